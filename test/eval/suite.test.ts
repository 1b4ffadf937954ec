import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { loadSuite, parseSuite, selectProblems, SuiteFormatError, toGenericJsonl, toGenericLine, type EvalProblem } from '../../src/eval/index.js';
import { dataSkipReason, HUMANEVAL_PATH, humanEvalSkipReason, humanEvalSuite, MBPP_GENERIC_PATH, skippedSuffix } from './helpers.js';

const GENERIC = {
  id: 'demo/1',
  prompt: 'Write add(a, b) that returns the sum.',
  language: 'python',
  test: 'from solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n',
  entryPoint: 'add',
};
const line = (value: unknown) => JSON.stringify(value);

function formatError(input: string | Uint8Array, limits = {}): SuiteFormatError {
  try {
    parseSuite(input, 'suite.jsonl', limits);
  } catch (error) {
    expect(error).toBeInstanceOf(SuiteFormatError);
    return error as SuiteFormatError;
  }
  throw new Error('the suite was accepted');
}

describe(`HumanEval${skippedSuffix(humanEvalSkipReason)}`, () => {
  test.skipIf(humanEvalSkipReason !== undefined)('loads all 164 problems from the gzipped JSONL, with held-out pytest files and references', async () => {
    const suite = await humanEvalSuite();
    expect(suite.format).toBe('humaneval');
    expect(suite.problems).toHaveLength(164);
    const first = suite.problems[0]!;
    expect(first).toMatchObject({ id: 'HumanEval/0', language: 'python', entryPoint: 'has_close_elements', solutionPath: 'solution.py', testPath: 'test_solution.py' });
    expect(first.test).toContain('from solution import has_close_elements');
    expect(first.test).toContain('def check(candidate):');
    expect(first.test).toContain('def test_check():\n    check(has_close_elements)');
    // The reference is the prompt completed by the canonical body, byte for byte.
    expect(first.reference!.startsWith(first.prompt)).toBe(true);
    expect(new Set(suite.problems.map((problem) => problem.id)).size).toBe(164);
  });

  test.skipIf(humanEvalSkipReason !== undefined)('a converted suite in the generic format round-trips, plain and gzipped', async () => {
    const suite = await humanEvalSuite();
    const jsonl = toGenericJsonl(suite.problems);
    const plain = parseSuite(jsonl, 'converted.jsonl');
    expect(plain.format).toBe('generic');
    expect(plain.problems).toEqual(suite.problems);
    const gzipped = parseSuite(gzipSync(jsonl), 'converted.jsonl.gz');
    expect(gzipped.problems).toEqual(suite.problems);
    // And once more: converting the converted suite changes nothing.
    expect(toGenericJsonl(plain.problems)).toBe(jsonl);
  });
});

const mbppSkipReason = dataSkipReason(MBPP_GENERIC_PATH);
describe(`MBPP in the generic format${skippedSuffix(mbppSkipReason)}`, () => {
  test.skipIf(mbppSkipReason !== undefined)('loads 427 problems, entry_point accepted for entryPoint, references kept', async () => {
    const suite = await loadSuite(MBPP_GENERIC_PATH);
    expect(suite.format).toBe('generic');
    expect(suite.problems).toHaveLength(427);
    expect(suite.problems[0]).toMatchObject({ id: 'mbpp/2', entryPoint: 'similar_elements', solutionPath: 'solution.py', testPath: 'test_solution.py' });
    expect(suite.problems.every((problem) => problem.reference !== undefined)).toBe(true);
  });
});

describe('the generic format', () => {
  test('defaults the paths by language and keeps optional fields', () => {
    const suite = parseSuite(
      [
        line(GENERIC),
        line({ ...GENERIC, id: 'demo/2', language: 'typescript', reference: 'export const add = (a: number, b: number) => a + b;\n', dependencies: ['tsx'] }),
      ].join('\r\n'),
    );
    expect(suite.problems[0]).toEqual({ ...GENERIC, solutionPath: 'solution.py', testPath: 'test_solution.py', dependencies: [] });
    expect(suite.problems[1]).toMatchObject({ solutionPath: 'src/solution.ts', testPath: 'test/solution.test.ts', dependencies: ['tsx'] });
    const again = parseSuite(suite.problems.map(toGenericLine).join('\n'));
    expect(again.problems).toEqual(suite.problems);
  });

  test('skips blank lines, a trailing newline and a byte-order mark', () => {
    const suite = parseSuite(`\ufeff${line(GENERIC)}\n\n   \n${line({ ...GENERIC, id: 'demo/2' })}\n`);
    expect(suite.problems.map((problem) => problem.id)).toEqual(['demo/1', 'demo/2']);
  });
});

describe('malformed suites give errors naming the line', () => {
  test('a line that is not JSON', () => {
    const error = formatError(`${line(GENERIC)}\n{"id": "demo/2", "prompt": \n`);
    expect(error.issues).toEqual([{ line: 2, message: expect.stringContaining('is not valid JSON') }]);
    expect(error.message).toContain('line 2: is not valid JSON');
  });

  test('missing and mistyped fields, named by field', () => {
    const error = formatError(
      [
        line({ ...GENERIC, test: undefined }),
        line({ ...GENERIC, id: 'demo/2', prompt: 42 }),
        line({ ...GENERIC, id: 'demo/3', language: 'cobol' }),
        line({ ...GENERIC, id: 'demo/4', prompt: '   ' }),
        line({ ...GENERIC, id: 'demo/5', entryPoint: 'add; import os' }),
        line({ ...GENERIC, id: 'has space' }),
      ].join('\n'),
    );
    expect(error.issues.map((issue) => issue.line)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(error.issues[0]!.message).toContain('"test"');
    expect(error.issues[1]!.message).toContain('"prompt"');
    expect(error.issues[2]!.message).toContain('"language"');
    expect(error.issues[3]!.message).toContain('must not be blank');
    expect(error.issues[4]!.message).toContain('"entryPoint": must be a plain identifier');
    expect(error.issues[5]!.message).toContain('"id": must be printable ASCII without spaces');
  });

  test('paths outside the project, and a test path equal to the solution path', () => {
    const error = formatError(
      [line({ ...GENERIC, testPath: '../escape.py' }), line({ ...GENERIC, id: 'b', solutionPath: '/etc/passwd' }), line({ ...GENERIC, id: 'c', testPath: 'solution.py' })].join('\n'),
    );
    expect(error.issues.map((issue) => [issue.line, issue.message.split(':')[0]])).toEqual([
      [1, '"testPath"'],
      [2, '"solutionPath"'],
      [3, '"testPath"'],
    ]);
  });

  test('a repeated id names both lines', () => {
    const error = formatError([line(GENERIC), line({ ...GENERIC, id: 'other' }), line(GENERIC)].join('\n'));
    expect(error.issues).toEqual([{ line: 3, message: 'repeats the id "demo/1" of line 1' }]);
  });

  test('a line that is neither format, an array, and a format switch mid-file', () => {
    const error = formatError([line(GENERIC), line({ name: 'x' }), '[1, 2]', line({ task_id: 'HumanEval/0', prompt: 'p', test: 't', entry_point: 'f' })].join('\n'));
    expect(error.issues.map((issue) => issue.line)).toEqual([2, 3, 4]);
    expect(error.issues[0]!.message).toContain('neither a HumanEval problem');
    expect(error.issues[1]!.message).toBe('is not a JSON object');
    expect(error.issues[2]!.message).toBe('is a humaneval problem in a generic suite (one format per file)');
  });

  test('HumanEval lines are validated too', () => {
    const error = formatError(line({ task_id: 'HumanEval/0', prompt: 'def f():\n', test: 'def check(c): pass' }));
    expect(error.message).toContain('line 1: "entry_point"');
  });

  test('an over-long line is refused without being parsed', () => {
    const error = formatError([line(GENERIC), line({ ...GENERIC, id: 'big', prompt: 'x'.repeat(5_000) })].join('\n'), { maxLineBytes: 1_000 });
    expect(error.issues).toEqual([{ line: 2, message: 'is longer than 1000 bytes' }]);
  });

  test('a gzip bomb stops at the decompressed limit', () => {
    const bomb = gzipSync(Buffer.alloc(50_000_000, 0x20));
    expect(bomb.byteLength).toBeLessThan(100_000);
    const error = formatError(bomb, { maxDecompressedBytes: 1_000_000 });
    expect(error.message).toContain('inflates to more than 1000000 bytes');
  });

  test('a truncated gzip file, bytes that are not UTF-8, an empty file, too many problems', () => {
    const gzipped = gzipSync(line(GENERIC));
    expect(formatError(gzipped.subarray(0, gzipped.byteLength - 10)).message).toContain('is not a valid gzip file');
    expect(formatError(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])).message).toContain('is not UTF-8 text');
    expect(formatError('\n\n').message).toBe('suite.jsonl: holds no problem');
    expect(formatError([line(GENERIC), line({ ...GENERIC, id: 'two' })].join('\n'), { maxProblems: 1 }).issues).toEqual([{ line: 2, message: 'is past the limit of 1 problems' }]);
  });

  test('at most ten bad lines are listed', () => {
    const error = formatError(Array.from({ length: 50 }, () => 'nope').join('\n'));
    expect(error.issues).toHaveLength(10);
  });

  test('a missing file', async () => {
    await expect(loadSuite('/nonexistent/suite.jsonl')).rejects.toThrow(/suite\.jsonl: cannot be read/);
  });
});

describe('selection', () => {
  const problems = ['a/1', 'a/2', 'b/1', 'a/3', 'b/2'].map((id) => ({ id }) as EvalProblem);
  test('filter, then offset, then limit', () => {
    expect(selectProblems(problems, { filter: /^a\//, offset: 1, limit: 1 }).map((problem) => problem.id)).toEqual(['a/2']);
    expect(selectProblems(problems, { filter: 'b/' }).map((problem) => problem.id)).toEqual(['b/1', 'b/2']);
    expect(selectProblems(problems, { limit: 0 })).toEqual([]);
    expect(() => selectProblems(problems, { offset: -1 })).toThrow(TypeError);
  });
});

test('the HumanEval path points beside the repository', () => {
  expect(HUMANEVAL_PATH.endsWith('/shared/data/humaneval/HumanEval.jsonl.gz')).toBe(true);
});

test('absent data skips loudly, and fails under CI=true', () => {
  const saved = process.env.CI;
  try {
    process.env.CI = 'false';
    expect(dataSkipReason('/nonexistent/HumanEval.jsonl.gz')).toBe('/nonexistent/HumanEval.jsonl.gz is absent');
    process.env.CI = 'true';
    expect(() => dataSkipReason('/nonexistent/HumanEval.jsonl.gz')).toThrow(/is absent, and CI=true/);
  } finally {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  }
});
