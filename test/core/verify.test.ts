import { expect, test } from 'vitest';
import { PTCAgent, PYTHON_PYTEST, verifyBundle, type SandboxRunner } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FIXED, PLAN } from '../helpers.js';

const tests = [{ path: 'tests/test_held_out.py', content: 'from calc import add\n\ndef test_held_out():\n    assert add(2, 2) == 4\n' }];

async function greenBundle() {
  return new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner(), cache: false }).execute(PLAN);
}

test('verifyBundle runs your tests alone, in the acceptance invocation, on a fresh session holding only the bundle files and the tests', async () => {
  const bundle = await greenBundle();
  const runner = new FakeSandboxRunner();
  const result = await verifyBundle(bundle, { runner, preset: PYTHON_PYTEST, tests });
  expect(result.passed).toBe(true);
  const session = runner.sessions[0]!;
  expect(session.commands[0]).toEqual(expect.arrayContaining(['--noconftest', 'tests/test_held_out.py']));
  expect(session.isClosed).toBe(true);
  // Only the acceptance invocation runs, always cold: the runner is told not to prepare test runs.
  expect(runner.openSpecs[0]?.prepareTestRuns).toBe(false);
});

test('verifyBundle: a red run is passed: false with the problem; a hanging close does not hang the caller', async () => {
  const bundle = await greenBundle();
  const inner = new FakeSandboxRunner({ results: { failed: ['test_held_out'] } });
  const runner: SandboxRunner = {
    id: 'hanging-close',
    open: async (spec) => {
      const session = await inner.open(spec);
      return { id: session.id, sync: (f, o) => session.sync(f, o), run: (a, o) => session.run(a, o), readFile: (p, o) => session.readFile(p, o), close: () => new Promise<void>(() => {}) };
    },
  };
  const result = await verifyBundle(bundle, { runner, preset: PYTHON_PYTEST, tests, closeTimeoutMs: 50 });
  expect(result.passed).toBe(false);
  expect(result.problem).toMatch(/acceptance/);
  await expect(verifyBundle(bundle, { runner, preset: PYTHON_PYTEST, tests: [] })).rejects.toThrow(/at least one test file/);
});
