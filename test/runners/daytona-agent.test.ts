import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PTCAgent } from '../../src/agent.js';
import type { GeneratedFileInput } from '../../src/bundle.js';
import { PYTHON_PYTEST, type TestPreset } from '../../src/reports/presets.js';
import type { DaytonaSandboxRunner } from '../../src/runners/daytona.js';
import { ScriptedCodeGenerator } from '../../src/testing/scripted-generator.js';
import { FakeDaytonaServer, runnerFor } from '../fakes/daytona-server.js';

const BUGGY: GeneratedFileInput[] = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a - b\n' },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
];
const FIXED: GeneratedFileInput[] = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
];
// Judges calc.py with a shell one-liner that writes JUnit: the loop's sandbox traffic without
// paying Python's start-up on a loaded machine for every iteration (real pytest: first case, and
// test/runners/daytona.test.ts).
const QUICK_PRESET: TestPreset = {
  ...PYTHON_PYTEST,
  id: 'quick-shell-junit',
  command: [
    'sh',
    '-c',
    'mkdir -p .ptc; if grep -q "a + b" calc.py; then echo \'<testsuite><testcase name="test_add"/></testsuite>\' > .ptc/junit.xml; ' +
      'else echo \'<testsuite><testcase name="test_add"><failure message="assert -1 == 3"/></testcase></testsuite>\' > .ptc/junit.xml; exit 1; fi',
  ],
};

const PLAN = { taskDescription: 'Write add(a, b) in calc.py with pytest tests', requirements: ['add two numbers'], cacheStrategy: 'never' as const };

let fake: FakeDaytonaServer;
let runner: DaytonaSandboxRunner;

beforeAll(async () => {
  fake = await FakeDaytonaServer.start();
  runner = runnerFor(fake);
});

afterAll(async () => {
  await runner?.dispose();
  const leaked = fake?.liveSandboxes() ?? [];
  await fake?.close();
  expect(leaked).toEqual([]);
});

describe('PTCAgent with DaytonaSandboxRunner (fake Daytona, real pytest)', () => {
  test.each([
    { iterations: 1, script: [FIXED], status: 'success', preset: 'pytest' },
    { iterations: 3, script: [BUGGY, BUGGY, FIXED], status: 'success', preset: 'quick' },
    { iterations: 3, script: [BUGGY], status: 'partial_success', preset: 'quick' },
  ])('exactly one create and one delete for a run of $iterations iteration(s) ending in $status ($preset)', async ({ iterations, script, status, preset }) => {
    fake.reset();
    const agent = new PTCAgent({
      generator: new ScriptedCodeGenerator(script.map((files) => ({ files }))),
      runner,
      testPresets: { python: preset === 'pytest' ? PYTHON_PYTEST : QUICK_PRESET },
    });
    const bundle = await agent.execute({ ...PLAN, maxIterations: 3 });
    expect(bundle.status).toBe(status);
    expect(bundle.iterations).toHaveLength(iterations);
    expect(fake.count('create')).toBe(1);
    expect(fake.count('delete')).toBe(1);
    expect(fake.count('execute')).toBe(iterations);
    expect(fake.count('upload')).toBe(iterations);
    expect(fake.liveSandboxes()).toEqual([]);
  }, 60_000);

  test('a cancelled run still deletes its one sandbox', async () => {
    fake.reset();
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator([{ files: BUGGY }], { latencyMs: 300 }), runner });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const bundle = await agent.execute({ ...PLAN, maxIterations: 3 }, { signal: controller.signal });
    expect(bundle.status).toBe('cancelled');
    await runner.dispose();
    expect(fake.count('create')).toBe(1);
    expect(fake.count('delete')).toBe(1);
    expect(fake.liveSandboxes()).toEqual([]);
    runner = runnerFor(fake);
  }, 60_000);
});
