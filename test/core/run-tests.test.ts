import { describe, expect, test } from 'vitest';
import { PYTHON_PYTEST, JAVASCRIPT_NODE_TEST, PathSafetyError, REPORT_PATH, runTests } from '../../src/index.js';
import { FakeSandboxRunner, type FakeTestResult } from '../../src/testing/index.js';

async function reportFor(result: FakeTestResult, preset = PYTHON_PYTEST, testFiles: string[] = []) {
  const runner = new FakeSandboxRunner({ results: result });
  const session = await runner.open({ executionId: 'x', language: preset.language, dependencies: [], env: {}, signal: new AbortController().signal });
  try {
    const report = await runTests(session, preset, { timeoutMs: 1000, signal: new AbortController().signal, testFiles, maxOutputChars: 100 });
    return { report, session: runner.sessions[0]! };
  } finally {
    await session.close();
  }
}

describe('runTests: the exit code and the report together decide', () => {
  test('all passed and exit 0 is green', async () => {
    const { report } = await reportFor({ passed: ['a', 'b'] });
    expect(report).toMatchObject({ success: true, passed: 2, failed: 0, exitCode: 0 });
    expect(report.problem).toBeUndefined();
  });

  test('a failure is red with its message', async () => {
    const { report } = await reportFor({ passed: ['a'], failed: [{ name: 'b', message: 'assert 1 == 2' }] });
    expect(report).toMatchObject({ success: false, passed: 1, failed: 1 });
    expect(report.cases[1]?.message).toBe('assert 1 == 2');
  });

  test('pytest exit 5 (no tests collected) is red', async () => {
    const { report } = await reportFor({ exitCode: 5 });
    expect(report.success).toBe(false);
    expect(report.problem).toContain('no tests');
  });

  test('zero cases with exit 0 (node with no tests) is red', async () => {
    const { report } = await reportFor({ exitCode: 0 }, JAVASCRIPT_NODE_TEST);
    expect(report.success).toBe(false);
    expect(report.problem).toContain('no tests');
  });

  test('pytest exit 2 (interrupted) becomes an errored case the model can act on', async () => {
    const { report } = await reportFor({ exitCode: 2, report: null, stderr: "ImportError: No module named 'nope'" });
    expect(report.success).toBe(false);
    expect(report.errored).toBe(1);
    expect(report.cases[0]?.message).toContain("No module named 'nope'");
  });

  test('a timeout is red and says so', async () => {
    const { report } = await reportFor({ timedOut: true, stdout: 'looping' });
    expect(report).toMatchObject({ success: false, timedOut: true, exitCode: null });
    expect(report.problem).toContain('timed out');
  });

  test('a report replaced by something that is not a regular file is red, not a sandbox failure', async () => {
    const runner = new FakeSandboxRunner({ results: { passed: ['a'] }, faults: { readFile: new PathSafetyError(REPORT_PATH, 'not a regular file') } });
    const session = await runner.open({ executionId: 'x', language: 'python', dependencies: [], env: {}, signal: new AbortController().signal });
    const report = await runTests(session, PYTHON_PYTEST, { timeoutMs: 1000, signal: new AbortController().signal, testFiles: [] });
    await session.close();
    expect(report.success).toBe(false);
    expect(report.problem).toContain('not a regular file');
  });

  test('a missing report is red', async () => {
    const { report } = await reportFor({ report: null, exitCode: 0 });
    expect(report.success).toBe(false);
    expect(report.problem).toContain('no report');
  });

  test('an unreadable report is red', async () => {
    const { report } = await reportFor({ report: 'garbage <<<', exitCode: 0 });
    expect(report.success).toBe(false);
    expect(report.problem).toContain('could not be read');
  });

  test('a non-zero exit with only passing cases is red', async () => {
    const { report } = await reportFor({ passed: ['a'], exitCode: 1 });
    expect(report.success).toBe(false);
    expect(report.errored).toBe(1);
  });

  test('a stale report from a previous run is removed first', async () => {
    const runner = new FakeSandboxRunner({ results: [{ passed: ['a'] }, { report: null, exitCode: 1 }] });
    const session = await runner.open({ executionId: 'x', language: 'python', dependencies: [], env: {}, signal: new AbortController().signal });
    const options = { timeoutMs: 1000, signal: new AbortController().signal, testFiles: [] };
    expect((await runTests(session, PYTHON_PYTEST, options)).success).toBe(true);
    expect((await runTests(session, PYTHON_PYTEST, options)).success).toBe(false);
    await session.close();
  });

  test('output is trimmed with a truncated flag', async () => {
    const { report } = await reportFor({ passed: ['a'], stdout: 'x'.repeat(1000) });
    expect(report.stdout.length).toBeLessThanOrEqual(100);
    expect(report.stdoutTruncated).toBe(true);
  });

  test('presets that cannot glob get the test files appended', async () => {
    const { session } = await reportFor({ passed: ['a'] }, JAVASCRIPT_NODE_TEST, ['test/a.test.js']);
    expect(session.commands[0]?.at(-1)).toBe('test/a.test.js');
  });
});
