import { expect, test } from 'vitest';
import { PTCAgent } from '../src/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator } from '../src/testing/index.js';

// The README's "Testing your own code" example, kept runnable so the front door never lies.
test('the README testing example works as written', async () => {
  const generator = new ScriptedCodeGenerator([
    { files: [{ path: 'calc.py', content: 'def add(a, b): return a - b' }] },
    { files: [{ path: 'calc.py', content: 'def add(a, b): return a + b' }] },
  ]);
  const runner = new FakeSandboxRunner({
    results: ({ files }) => (files.get('calc.py')?.includes('a + b') ? { passed: ['test_add'] } : { failed: ['test_add'] }),
  });
  const bundle = await new PTCAgent({ generator, runner, cache: new MemoryCache() }).execute({ taskDescription: 'add' });
  expect(bundle.status).toBe('success');
  expect(generator.calls[1]?.failures[0]?.name).toBe('test_add');
  expect(runner.openSessions).toBe(0);
});
