import { expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';

test('node presets run model test files that follow the naming conventions, labelled or not', async () => {
  const runner = new FakeSandboxRunner();
  const generator = new ScriptedCodeGenerator({
    files: [
      { path: 'package.json', content: '{ "type": "module" }' },
      { path: 'src/calc.js', content: 'export const add = (a, b) => a + b;\n' },
      // No `kind: 'test'`: models (and the README's own examples) often leave it out.
      { path: 'test/calc.test.js', content: "import { test } from 'node:test';\ntest('adds', () => {});\n" },
      { path: 'src/other_test.mjs', content: "import { test } from 'node:test';\ntest('other', () => {});\n" },
      { path: 'src/contest.js', content: 'export const contest = 1;\n' },
    ],
  });
  const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ taskDescription: 'add', language: 'javascript' });
  expect(bundle.status).toBe('success');
  const command = runner.sessions[0]!.commands[0]!;
  expect(command).toContain('test/calc.test.js');
  expect(command).toContain('src/other_test.mjs');
  expect(command).not.toContain('src/contest.js');
  expect(command).not.toContain('src/calc.js');
});
