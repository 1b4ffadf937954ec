import { describe, expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FIXED, PLAN, expectNoOpenSession, judgeCalc } from '../helpers.js';

const ATTACKS = [
  '../escape.py',
  'a/../../escape.py',
  '/etc/passwd',
  'C:\\Windows\\system32\\evil.dll',
  'c:/evil.py',
  '..\\escape.py',
  'nul\u0000byte.py',
  '~/.ssh/authorized_keys',
  'line\nbreak.py',
  '',
  './',
  'x'.repeat(2000),
];

describe('model output is checked before it reaches a sandbox', () => {
  test.each(ATTACKS.map((path) => [JSON.stringify(path).slice(0, 40), path]))('path %s fails the iteration, not the run', async (_label, path) => {
    const hostile = [...FIXED, { path, content: 'pwned' }];
    const generator = new ScriptedCodeGenerator([{ files: hostile }, { files: FIXED }]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner }).execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.iterations[0]?.error?.code).toBe('OUTPUT_REJECTED');
    // The model hears what was wrong.
    expect(generator.calls[1]?.problem).toContain('rejected');
    // Nothing of the hostile attempt was written: the session only saw the second attempt.
    expect(runner.sessions[0]?.syncs).toBe(1);
    expect([...runner.sessions[0]!.files.values()]).not.toContain('pwned');
    expectNoOpenSession(runner);
  });

  test('paths are normalised: ./a//b.py becomes a/b.py', async () => {
    const generator = new ScriptedCodeGenerator({ files: [{ path: './src//calc.py', content: 'a + b' }, { path: 'tests/./test_x.py', content: 't', kind: 'test' }] });
    const bundle = await new PTCAgent({ generator, runner: new FakeSandboxRunner() }).execute(PLAN);
    expect(bundle.files.map((file) => file.path)).toEqual(['src/calc.py', 'tests/test_x.py']);
  });

  test('duplicates resolve deterministically: the last version wins, with a warning', async () => {
    const generator = new ScriptedCodeGenerator({
      files: [
        { path: 'calc.py', content: 'first' },
        { path: 'tests/test_calc.py', content: 't', kind: 'test' },
        { path: './calc.py', content: 'a + b' },
      ],
    });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner }).execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.files.map((file) => [file.path, file.content])).toEqual([
      ['calc.py', 'a + b'],
      ['tests/test_calc.py', 't'],
    ]);
    expect(bundle.warnings.join()).toContain('calc.py appeared more than once');
  });

  test('a file and a directory of the same name are rejected', async () => {
    const generator = new ScriptedCodeGenerator([{ files: [{ path: 'pkg', content: 'x' }, { path: 'pkg/mod.py', content: 'y' }] }, { files: FIXED }]);
    const bundle = await new PTCAgent({ generator, runner: new FakeSandboxRunner() }).execute(PLAN);
    expect(bundle.iterations[0]?.error?.message).toContain('both a file and a directory');
  });

  test('per-file and total size limits', async () => {
    const big = 'x'.repeat(2_000);
    const generator = new ScriptedCodeGenerator([
      { files: [{ path: 'big.py', content: big }] },
      { files: [{ path: 'a.py', content: big.slice(0, 900) }, { path: 'b.py', content: big.slice(0, 900) }] },
      { files: FIXED },
    ]);
    const runner = new FakeSandboxRunner();
    const bundle = await new PTCAgent({ generator, runner, fileLimits: { maxFileBytes: 1_000, maxTotalBytes: 1_500 } }).execute(PLAN);
    expect(bundle.iterations[0]?.error?.message).toContain('at most 1000 bytes per file');
    expect(bundle.iterations[1]?.error?.message).toContain('at most 1500 bytes');
    expect(bundle.status).toBe('success');
  });

  test('too many files, an empty output, and a malformed file are rejected', async () => {
    const generator = new ScriptedCodeGenerator([
      { files: Array.from({ length: 5 }, (_, index) => ({ path: `f${index}.py`, content: '' })) },
      { files: [] },
      { files: [{ path: 'ok.py', content: 42 as unknown as string }] },
      { files: FIXED },
    ]);
    const bundle = await new PTCAgent({ generator, runner: new FakeSandboxRunner(), fileLimits: { maxFiles: 4 } }).execute({ ...PLAN, maxIterations: 4 });
    expect(bundle.iterations.map((record) => record.error?.code)).toEqual(['OUTPUT_REJECTED', 'OUTPUT_REJECTED', 'OUTPUT_REJECTED', undefined]);
    expect(bundle.status).toBe('success');
  });
});

describe('acceptance tests', () => {
  const acceptance = { path: 'tests/test_acceptance.py', content: 'from calc import add\n\ndef test_user():\n    assert add(2, 2) == 4\n' };

  test('are written to the sandbox, shown to the model, returned in the bundle, and run', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner }).execute({ ...PLAN, acceptanceTests: [acceptance] });
    expect(runner.sessions[0]?.files.get('tests/test_acceptance.py')).toBe(acceptance.content);
    expect(generator.calls[0]?.protectedPaths).toEqual(['tests/test_acceptance.py']);
    expect(generator.calls[0]?.plan.acceptanceTests).toEqual([acceptance]);
    const file = bundle.files.find((item) => item.path === 'tests/test_acceptance.py');
    expect(file).toMatchObject({ acceptance: true, kind: 'test', content: acceptance.content });
  });

  test('can never be overwritten by the model, even through a path that normalises to them', async () => {
    const cheat = { path: './tests//test_acceptance.py', content: 'def test_user():\n    pass\n' };
    const generator = new ScriptedCodeGenerator([{ files: [...FIXED, cheat] }, { files: FIXED }]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner }).execute({ ...PLAN, acceptanceTests: [acceptance] });
    expect(bundle.iterations[0]?.error?.message).toContain('acceptance test');
    expect(runner.sessions[0]?.files.get('tests/test_acceptance.py')).toBe(acceptance.content);
    expect(bundle.files.filter((file) => file.path === 'tests/test_acceptance.py')).toHaveLength(1);
    expect(bundle.files.find((file) => file.path === 'tests/test_acceptance.py')?.content).toBe(acceptance.content);
  });

  test('with an unsafe path make the plan invalid', async () => {
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner() });
    await expect(agent.execute({ ...PLAN, acceptanceTests: [{ path: '../x.py', content: '' }] })).rejects.toMatchObject({ code: 'PLAN_INVALID' });
  });
});
