import type { GenerationProgress, GenerationRequest } from '../../src/contracts/code-generator.js';
import { parsePlan } from '../../src/plan.js';
import { PYTHON_PYTEST } from '../../src/reports/presets.js';

export const ACCEPTANCE_TEST = [
  'from calculator import add',
  '',
  'def test_add_acceptance():',
  '    assert add(2, 3) == 5',
  '',
].join('\n');

export function makePlan() {
  return parsePlan({
    executionId: 'exec-1',
    taskDescription: 'Write a calculator module with add and divide.',
    requirements: ['add(a, b) returns the sum', 'divide(a, b) raises ZeroDivisionError when b is 0'],
    dependencies: ['numpy>=1.26'],
    language: 'python',
    acceptanceTests: [{ path: 'tests/test_acceptance.py', content: ACCEPTANCE_TEST }],
  });
}

export function firstRequest(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  const plan = makePlan();
  return {
    executionId: plan.executionId,
    iteration: 1,
    plan,
    testPreset: PYTHON_PYTEST,
    previousFiles: [],
    failures: [],
    protectedPaths: ['tests/test_acceptance.py'],
    ...overrides,
  };
}

export const GOOD_FILES = {
  files: [
    { path: 'calculator.py', content: 'def add(a, b):\n    return a + b\n', kind: 'source', description: 'the calculator' },
    { path: 'tests/test_calculator.py', content: 'from calculator import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
  ],
  notes: 'Implemented add.',
};

export function refinementRequest(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return firstRequest({
    iteration: 2,
    previousFiles: [
      { path: 'calculator.py', content: 'def add(a, b):\n    return a - b\n', kind: 'source' },
      { path: 'tests/test_calculator.py', content: 'def test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
    ],
    previousReport: {
      command: 'python3 -m pytest -q',
      exitCode: 1,
      passed: 0,
      failed: 1,
      skipped: 0,
      errored: 0,
      cases: [{ name: 'test_add', suite: 'tests.test_calculator', status: 'failed', message: 'assert -1 == 3' }],
      success: false,
      stdout: 'F\n1 failed in 0.01s',
      stderr: '',
      stdoutTruncated: false,
      stderrTruncated: false,
      timedOut: false,
      durationMs: 10,
    },
    failures: [{ name: 'test_add', suite: 'tests.test_calculator', file: 'tests/test_calculator.py', status: 'failed', message: 'assert -1 == 3' }],
    ...overrides,
  });
}

/** A context that records progress and never aborts unless told to. */
export function recordingContext(signal: AbortSignal = new AbortController().signal) {
  const progress: GenerationProgress[] = [];
  return { progress, context: { signal, onProgress: (item: GenerationProgress) => progress.push(item) } };
}
