import { expect } from 'vitest';
import type { ArtifactBundle, GeneratedFileInput, SandboxRunner } from '../src/index.js';
import { ArtifactBundleSchema } from '../src/index.js';
import type { FakeSandboxRunner } from '../src/testing/index.js';

export const BUGGY: GeneratedFileInput[] = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a - b\n' },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
];

export const FIXED: GeneratedFileInput[] = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
];

/** Passes when calc.py adds, fails otherwise: a fake that judges the code it was given. */
export const judgeCalc = ({ files }: { files: ReadonlyMap<string, string> }) =>
  files.get('calc.py')?.includes('a + b')
    ? { passed: ['test_add'] }
    : { failed: [{ name: 'test_add', message: 'assert -1 == 3' }] };

export const PLAN = { taskDescription: 'Write add(a, b) in calc.py with pytest tests', requirements: ['add two numbers'] };

/** Every test ends with this: whatever happened, no sandbox session stays open. */
export function expectNoOpenSession(runner: FakeSandboxRunner): void {
  expect(runner.openSessions).toBe(0);
  for (const session of runner.sessions) expect(session.isClosed).toBe(true);
}

export function expectValidBundle(bundle: ArtifactBundle): void {
  expect(ArtifactBundleSchema.safeParse(bundle).success).toBe(true);
}

/** Wraps a fake's sessions: `override` replaces some of their methods. */
export function wrapSessions(inner: FakeSandboxRunner, override: (session: Awaited<ReturnType<FakeSandboxRunner['open']>>) => Partial<Awaited<ReturnType<FakeSandboxRunner['open']>>>): SandboxRunner {
  return {
    id: inner.id,
    async open(spec) {
      const session = await inner.open(spec);
      return {
        id: session.id,
        sync: (files, options) => session.sync(files, options),
        run: (command, options) => session.run(command, options),
        readFile: (path, options) => session.readFile(path, options),
        close: () => session.close(),
        ...override(session),
      };
    },
  };
}
