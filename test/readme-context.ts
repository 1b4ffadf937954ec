// What the README's code blocks may use without declaring it, as a reader's own program would have
// it (an agent, a generator, a plan…). test/readme.test.ts imports from here exactly the names a
// block uses and does not declare; a name not exported here fails that block. Everything is
// offline: a scripted generator and a fake runner.
import { PTCAgent, type PlanInput } from '../src/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator } from '../src/testing/index.js';

export { expect } from 'vitest';

export const generator = new ScriptedCodeGenerator([
  {
    files: [
      { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n', kind: 'source' },
      { path: 'test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
    ],
  },
]);
export const runner = new FakeSandboxRunner();
export const plan: PlanInput = { taskDescription: 'add(a, b) in calc.py', language: 'python' };
export const agent = new PTCAgent({ generator, runner, cache: new MemoryCache() });

/** Stand-ins for the reader's own adapters in the conformance example. */
export class MyRunner extends FakeSandboxRunner {}
export class MyGenerator extends ScriptedCodeGenerator {
  constructor() {
    super([{ files: [{ path: 'a.py', content: 'x = 1\n' }] }]);
  }
}
export class MyCache extends MemoryCache {}
