import { describe, expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import { RomaPlanValidationError, fromRomaGenerateRequest, parseRomaGenerateRequest, renderRomaCode, toRomaGenerateResponse } from '../../src/roma/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator } from '../../src/testing/index.js';

function detail(input: unknown) {
  try {
    fromRomaGenerateRequest(input);
  } catch (error) {
    expect(error).toBeInstanceOf(RomaPlanValidationError);
    return (error as RomaPlanValidationError).detail;
  }
  throw new Error('accepted');
}

describe('POST /generate body', () => {
  test('ROMA executor defaults and lax forms', () => {
    expect(parseRomaGenerateRequest({ task_description: 'x', extra: 1 })).toEqual({ task_description: 'x', requirements: [], language: 'python' });
    const plan = fromRomaGenerateRequest({ task_description: 'write is_prime', requirements: ['', 'handle 0'], language: ' Python ' }, { executionId: 'g-1' });
    expect(plan).toMatchObject({ executionId: 'g-1', taskDescription: 'write is_prime', requirements: ['handle 0'], language: 'python', enableTesting: true, maxIterations: 3, cacheStrategy: 'smart' });
    expect(fromRomaGenerateRequest({ task_description: 'x', language: 'ts' }).language).toBe('typescript');
  });

  test('422 details in FastAPI form', () => {
    expect(detail({ requirements: 'no', language: 5 })).toEqual([
      { type: 'missing', loc: ['body', 'task_description'], msg: 'Field required' },
      { type: 'list_type', loc: ['body', 'requirements'], msg: 'Input should be a valid list' },
      { type: 'string_type', loc: ['body', 'language'], msg: 'Input should be a valid string' },
    ]);
    expect(detail({ task_description: 'x', language: 'cobol' })).toMatchObject([{ type: 'value_error', loc: ['body', 'language'] }]);
    expect(detail({ task_description: '   ' })).toMatchObject([{ type: 'value_error', loc: ['body', 'task_description'] }]);
  });
});

describe('the answer', () => {
  test('renderRomaCode: one string, a header per file, sources before tests', () => {
    const files = [
      { path: 'tests/test_a.py', content: 'def test(): pass', kind: 'test' as const },
      { path: 'a.py', content: 'x = 1\n', kind: 'source' as const },
    ];
    expect(renderRomaCode(files, 'python')).toBe('# File: a.py\nx = 1\n\n# File: tests/test_a.py\ndef test(): pass\n');
    expect(renderRomaCode([{ path: 'a.js', content: 'x\n', kind: 'source' }], 'javascript')).toBe('// File: a.js\nx\n');
  });

  const agentWith = (steps: ConstructorParameters<typeof ScriptedCodeGenerator>[0], costUsd: number | null = 0.0123) =>
    new PTCAgent({
      generator: new ScriptedCodeGenerator(steps, { id: 'anthropic:claude-test' }),
      runner: new FakeSandboxRunner({ results: ({ files }) => (files.get('a.py')?.includes('good') ? { passed: ['test_a'] } : { failed: ['test_a'] }) }),
      cache: new MemoryCache(),
    });

  test('green: 200 with code, provider, tokens and a number for cost; a cache hit spent nothing', async () => {
    const agent = agentWith({ files: [{ path: 'a.py', content: 'good = 1\n' }], usage: { inputTokens: 10, outputTokens: 5, costUsd: 0.0123 } });
    const { httpStatus, body } = toRomaGenerateResponse(await agent.execute(fromRomaGenerateRequest({ task_description: 'a' })));
    expect(httpStatus).toBe(200);
    expect(body).toMatchObject({ code: '# File: a.py\ngood = 1\n', language: 'python', provider: 'claude', tokens_used: 15, cost_usd: 0.0123, cost_known: true, status: 'SUCCESS', tests_passed: 1 });
    const hit = toRomaGenerateResponse(await agent.execute(fromRomaGenerateRequest({ task_description: 'a' })));
    expect(hit.body).toMatchObject({ from_cache: true, tokens_used: 0, cost_usd: 0, code: body.code });
  });

  test('an unknown cost is 0 with cost_known false (ROMA formats it with :.6f); red is a 502 with the code still in the body', async () => {
    const agent = agentWith({ files: [{ path: 'a.py', content: 'bad = 1\n' }], usage: { costUsd: null } });
    const { httpStatus, body } = toRomaGenerateResponse(await agent.execute(fromRomaGenerateRequest({ task_description: 'a' })));
    expect(httpStatus).toBe(502);
    expect(body).toMatchObject({ status: 'PARTIAL_SUCCESS', cost_usd: 0, cost_known: false, tests_failed: 1, code: '# File: a.py\nbad = 1\n' });
    expect(body.detail).toMatch(/^partial_success: /);
    expect(typeof body.cost_usd).toBe('number');
  });
});
