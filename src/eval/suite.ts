import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { z } from 'zod';
import { DependencySchema, LanguageSchema, isSafeRelativePath, normalizeRelativePath, type Language } from '../index.js';

/**
 * One problem of a suite, whatever format it came from. The held-out test (`test`) is a complete
 * test file, written at `testPath` next to the model's files; the model must put its code at
 * `solutionPath`, where the test imports it from.
 */
export interface EvalProblem {
  /** Unique within the suite: printable ASCII without spaces, e.g. `HumanEval/0`. */
  id: string;
  /** What the model is asked to implement (for HumanEval: the signature and docstring). */
  prompt: string;
  language: Language;
  /** The held-out test file's content. */
  test: string;
  /** The function under test, when the suite names one. */
  entryPoint?: string;
  /** Where the model's code must go. @default 'solution.py' / 'src/solution.js' / 'src/solution.ts' */
  solutionPath: string;
  /** Where the held-out test file is written. @default 'test_solution.py' / 'test/solution.test.js' / 'test/solution.test.ts' */
  testPath: string;
  /** A known-good content of `solutionPath`, used by the offline generators. */
  reference?: string;
  /** Packages installed in the sandbox. @default [] */
  dependencies: string[];
}

export type SuiteFormat = 'humaneval' | 'generic';

export interface Suite {
  /** Where it was read from, as given. */
  source: string;
  format: SuiteFormat;
  problems: EvalProblem[];
}

export interface SuiteLimits {
  /** Largest suite file, compressed or not, in bytes. @default 268435456 (256 MiB) */
  maxFileBytes?: number;
  /** Largest suite after gunzip, in bytes: a small .gz can inflate to gigabytes. @default 268435456 (256 MiB) */
  maxDecompressedBytes?: number;
  /** Longest line, in bytes. @default 2097152 (2 MiB) */
  maxLineBytes?: number;
  /** Most problems in one suite. @default 100000 */
  maxProblems?: number;
}

const DEFAULT_LIMITS: Required<SuiteLimits> = {
  maxFileBytes: 256 * 1024 * 1024,
  maxDecompressedBytes: 256 * 1024 * 1024,
  maxLineBytes: 2 * 1024 * 1024,
  maxProblems: 100_000,
};

/** How many bad lines one error lists before it stops looking. */
const MAX_REPORTED_ERRORS = 10;

/** A suite file that cannot be used; `issues` name each bad line. */
export class SuiteFormatError extends Error {
  constructor(
    readonly source: string,
    readonly issues: readonly { line: number; message: string }[],
  ) {
    super(
      issues.length === 1 && issues[0]!.line === 0
        ? `${source}: ${issues[0]!.message}`
        : `${source}: ${issues.length} problem(s):\n${issues.map((issue) => `  line ${issue.line}: ${issue.message}`).join('\n')}`,
    );
    this.name = 'SuiteFormatError';
  }
}

export const DEFAULT_SOLUTION_PATHS: Readonly<Record<Language, string>> = {
  python: 'solution.py',
  javascript: 'src/solution.js',
  typescript: 'src/solution.ts',
};

export const DEFAULT_TEST_PATHS: Readonly<Record<Language, string>> = {
  python: 'test_solution.py',
  javascript: 'test/solution.test.js',
  typescript: 'test/solution.test.ts',
};

const IdSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' });
/** An identifier in the target language; it is interpolated into test code. */
const EntryPointSchema = z
  .string()
  .max(200)
  .regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, { error: 'must be a plain identifier' });
/** The prompt ends up in the plan's task description (100,000 characters at most) with some framing. */
const PromptSchema = z
  .string()
  .max(90_000)
  .refine((text) => text.trim().length > 0, { error: 'must not be blank' });
/** The held-out test becomes a plan file in acceptance mode (1,000,000 characters at most). */
const TestSchema = z.string().min(1, { error: 'must not be empty' }).max(1_000_000);
const PathSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine(isSafeRelativePath, { error: 'must be a relative path inside the project (no "..", no absolute paths)' });

/** HumanEval's line (openai/human-eval): unknown fields are ignored. */
const HumanEvalLineSchema = z.object({
  task_id: IdSchema,
  prompt: PromptSchema,
  canonical_solution: z.string().max(1_000_000).optional(),
  test: TestSchema,
  entry_point: EntryPointSchema,
});

/**
 * The generic format, one JSON object per line:
 * `{ "id", "prompt", "language", "test", "entryPoint"?, "solutionPath"?, "testPath"?, "reference"?, "dependencies"? }`
 * (`entry_point` is accepted for `entryPoint`). Unknown fields are ignored.
 */
export const GenericProblemSchema = z.object({
  id: IdSchema,
  prompt: PromptSchema,
  language: LanguageSchema,
  test: TestSchema,
  entryPoint: EntryPointSchema.optional(),
  solutionPath: PathSchema.optional(),
  testPath: PathSchema.optional(),
  reference: z.string().max(1_000_000).optional(),
  dependencies: z.array(DependencySchema).max(50).optional(),
});
export type GenericProblem = z.input<typeof GenericProblemSchema>;

/**
 * Reads a suite: HumanEval's JSONL or the generic JSONL, plain or gzipped (recognised by its
 * magic bytes, not its name). Every line is validated; a bad line throws a `SuiteFormatError`
 * naming it (up to ten bad lines are listed).
 */
export async function loadSuite(path: string, limits: SuiteLimits = {}): Promise<Suite> {
  const resolved = { ...DEFAULT_LIMITS, ...limits };
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (error) {
    throw new SuiteFormatError(path, [{ line: 0, message: `cannot be read: ${(error as Error).message}` }]);
  }
  return parseSuite(raw, path, resolved);
}

/** Like `loadSuite`, from bytes or text already in memory. */
export function parseSuite(input: Uint8Array | string, source = 'suite', limits: SuiteLimits = {}): Suite {
  const resolved = { ...DEFAULT_LIMITS, ...limits };
  let bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const fail = (message: string): never => {
    throw new SuiteFormatError(source, [{ line: 0, message }]);
  };
  if (bytes.byteLength > resolved.maxFileBytes) fail(`is ${bytes.byteLength} bytes, over the limit of ${resolved.maxFileBytes}`);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes, { maxOutputLength: resolved.maxDecompressedBytes });
    } catch (error) {
      const code = (error as { code?: string }).code;
      fail(
        code === 'ERR_BUFFER_TOO_LARGE' || error instanceof RangeError
          ? `inflates to more than ${resolved.maxDecompressedBytes} bytes`
          : `is not a valid gzip file (${(error as Error).message})`,
      );
    }
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fail('is not UTF-8 text');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  const issues: { line: number; message: string }[] = [];
  const problems: EvalProblem[] = [];
  const firstLineOf = new Map<string, number>();
  let format: SuiteFormat | undefined;
  let lineNumber = 0;
  let start = 0;
  while (start <= text.length && issues.length < MAX_REPORTED_ERRORS) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).replace(/\r$/, '');
    start = end + 1;
    lineNumber += 1;
    if (line.trim() === '') {
      if (end === text.length) break;
      continue;
    }
    if (Buffer.byteLength(line, 'utf8') > resolved.maxLineBytes) {
      issues.push({ line: lineNumber, message: `is longer than ${resolved.maxLineBytes} bytes` });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      issues.push({ line: lineNumber, message: `is not valid JSON (${(error as Error).message})` });
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      issues.push({ line: lineNumber, message: 'is not a JSON object' });
      continue;
    }
    const lineFormat: SuiteFormat | undefined = 'task_id' in value ? 'humaneval' : 'id' in value ? 'generic' : undefined;
    if (lineFormat === undefined) {
      issues.push({
        line: lineNumber,
        message: 'is neither a HumanEval problem (task_id, prompt, entry_point, test) nor a generic one (id, prompt, language, test)',
      });
      continue;
    }
    format ??= lineFormat;
    if (lineFormat !== format) {
      issues.push({ line: lineNumber, message: `is a ${lineFormat} problem in a ${format} suite (one format per file)` });
      continue;
    }
    const problem = format === 'humaneval' ? fromHumanEval(value) : fromGeneric(value);
    if ('error' in problem) {
      issues.push({ line: lineNumber, message: problem.error });
      continue;
    }
    const earlier = firstLineOf.get(problem.id);
    if (earlier !== undefined) {
      issues.push({ line: lineNumber, message: `repeats the id ${JSON.stringify(problem.id)} of line ${earlier}` });
      continue;
    }
    firstLineOf.set(problem.id, lineNumber);
    if (problems.length >= resolved.maxProblems) {
      issues.push({ line: lineNumber, message: `is past the limit of ${resolved.maxProblems} problems` });
      break;
    }
    problems.push(problem);
    if (end === text.length) break;
  }
  if (issues.length > 0) throw new SuiteFormatError(source, issues);
  if (problems.length === 0 || format === undefined) return fail('holds no problem');
  return { source, format, problems };
}

function describe(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const where = issue.path.length > 0 ? `"${issue.path.map(String).join('.')}"` : 'the object';
      return `${where}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * HumanEval's `test` defines `check(candidate)`; the official harness runs it in the namespace of
 * the completed prompt. Here the model's `solution.py` is imported instead (the prompt's helpers
 * and imports with it, as the model was asked to keep them), and one pytest case calls `check`.
 */
export function humanEvalTestFile(test: string, entryPoint: string): string {
  return [
    '# Held-out test: the HumanEval check, run against solution.py.',
    'from solution import *  # noqa: F401,F403 - the checks may use the prompt\'s helpers and imports',
    `from solution import ${entryPoint}`,
    '',
    test.replace(/\s+$/, ''),
    '',
    '',
    'def test_check():',
    `    check(${entryPoint})`,
    '',
  ].join('\n');
}

function fromHumanEval(value: object): EvalProblem | { error: string } {
  const parsed = HumanEvalLineSchema.safeParse(value);
  if (!parsed.success) return { error: describe(parsed.error) };
  const line = parsed.data;
  const problem: EvalProblem = {
    id: line.task_id,
    prompt: line.prompt,
    language: 'python',
    test: humanEvalTestFile(line.test, line.entry_point),
    entryPoint: line.entry_point,
    solutionPath: DEFAULT_SOLUTION_PATHS.python,
    testPath: DEFAULT_TEST_PATHS.python,
    dependencies: [],
  };
  if (line.canonical_solution !== undefined) problem.reference = line.prompt + line.canonical_solution;
  return problem;
}

function fromGeneric(value: object): EvalProblem | { error: string } {
  const record = value as Record<string, unknown>;
  if ('entry_point' in record && !('entryPoint' in record)) value = { ...record, entryPoint: record.entry_point };
  const parsed = GenericProblemSchema.safeParse(value);
  if (!parsed.success) return { error: describe(parsed.error) };
  const line = parsed.data;
  const solutionPath = normalizeRelativePath(line.solutionPath ?? DEFAULT_SOLUTION_PATHS[line.language]);
  const testPath = normalizeRelativePath(line.testPath ?? DEFAULT_TEST_PATHS[line.language]);
  if (solutionPath === testPath) return { error: '"testPath": must differ from solutionPath' };
  const problem: EvalProblem = {
    id: line.id,
    prompt: line.prompt,
    language: line.language,
    test: line.test,
    solutionPath,
    testPath,
    dependencies: line.dependencies ?? [],
  };
  if (line.entryPoint !== undefined) problem.entryPoint = line.entryPoint;
  if (line.reference !== undefined) problem.reference = line.reference;
  return problem;
}

/** The problem as one line of the generic format: `parseSuite` of the result gives it back. */
export function toGenericLine(problem: EvalProblem): string {
  const line: Record<string, unknown> = {
    id: problem.id,
    prompt: problem.prompt,
    language: problem.language,
    test: problem.test,
  };
  if (problem.entryPoint !== undefined) line.entryPoint = problem.entryPoint;
  line.solutionPath = problem.solutionPath;
  line.testPath = problem.testPath;
  if (problem.reference !== undefined) line.reference = problem.reference;
  if (problem.dependencies.length > 0) line.dependencies = problem.dependencies;
  return JSON.stringify(line);
}

/** A whole suite in the generic format, one problem per line. */
export function toGenericJsonl(problems: readonly EvalProblem[]): string {
  return problems.map(toGenericLine).join('\n') + '\n';
}

export interface ProblemSelection {
  /** Problems to skip from the start, after filtering. @default 0 */
  offset?: number;
  /** Most problems to keep. @default all */
  limit?: number;
  /** Keep only ids matching this (a RegExp, or a string tested as a substring). */
  filter?: RegExp | string;
}

/** Filter, then offset, then limit — in suite order. */
export function selectProblems(problems: readonly EvalProblem[], selection: ProblemSelection = {}): EvalProblem[] {
  const { offset = 0, limit, filter } = selection;
  if (!Number.isInteger(offset) || offset < 0) throw new TypeError(`offset must be a non-negative integer, got ${String(offset)}`);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new TypeError(`limit must be a non-negative integer, got ${String(limit)}`);
  const matches = (id: string) => (filter === undefined ? true : typeof filter === 'string' ? id.includes(filter) : filter.test(id));
  const kept = problems.filter((problem) => matches(problem.id)).slice(offset);
  return limit === undefined ? kept : kept.slice(0, limit);
}
