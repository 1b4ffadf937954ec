import { describe, expect, test } from 'vitest';
import { GenerationError, PTCAgent } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { BUGGY, FIXED, PLAN, expectNoOpenSession, expectValidBundle, judgeCalc, wrapSessions } from '../helpers.js';

describe('the loop', () => {
  test('green first time: one generation, one test run, one session', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner });
    const bundle = await agent.execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.stopReason).toBe('tests_passed');
    expect(bundle.iterations).toHaveLength(1);
    expect(bundle.bestIteration).toBe(1);
    expect(bundle.testReport?.passed).toBe(1);
    expect(bundle.files.map((file) => file.path)).toEqual(['calc.py', 'tests/test_calc.py']);
    expect(bundle.files[1]?.kind).toBe('test');
    // The generator named no language: it is taken from the extension.
    expect(bundle.files.map((file) => file.language)).toEqual(['python', 'python']);
    expect(bundle.error).toBeUndefined();
    expect(generator.calls).toHaveLength(1);
    expect(runner.opened).toBe(1);
    expectValidBundle(bundle);
    expectNoOpenSession(runner);
  });

  test('green after refinement: the second request carries the previous files and the failing case', async () => {
    const generator = new ScriptedCodeGenerator([{ files: BUGGY }, { files: FIXED }]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner });
    const bundle = await agent.execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.iterations).toHaveLength(2);
    expect(bundle.iterations[0]?.testReport?.failed).toBe(1);
    expect(bundle.bestIteration).toBe(2);
    const refinement = generator.calls[1]!;
    expect(refinement.iteration).toBe(2);
    expect(refinement.previousFiles.find((file) => file.path === 'calc.py')?.content).toContain('a - b');
    expect(refinement.failures).toEqual([expect.objectContaining({ name: 'test_add', status: 'failed', message: expect.stringContaining('assert -1 == 3') })]);
    expect(refinement.previousReport?.success).toBe(false);
    // One sandbox for all iterations.
    expect(runner.opened).toBe(1);
    expect(runner.sessions[0]?.commands).toHaveLength(2);
    expect(bundle.usage.apiCalls).toBe(2);
    expect(bundle.usage.inputTokens).toBe(200);
    expectNoOpenSession(runner);
  });

  test('red when the iterations run out: partial_success with the best iteration and the reason', async () => {
    const almost = [
      { path: 'calc.py', content: 'almost' },
      { path: 'tests/test_calc.py', content: 't', kind: 'test' as const },
    ];
    const generator = new ScriptedCodeGenerator([{ files: BUGGY }, { files: almost }, { files: BUGGY }]);
    const runner = new FakeSandboxRunner({
      results: ({ files }) =>
        files.get('calc.py') === 'almost'
          ? { passed: ['a', 'b'], failed: ['c'] }
          : { passed: ['a'], failed: ['b', 'c'] },
    });
    const agent = new PTCAgent({ generator, runner });
    const bundle = await agent.execute({ ...PLAN, maxIterations: 3 });
    expect(bundle.status).toBe('partial_success');
    expect(bundle.stopReason).toBe('max_iterations');
    expect(bundle.bestIteration).toBe(2);
    expect(bundle.files.find((file) => file.path === 'calc.py')?.content).toBe('almost');
    expect(bundle.testReport?.passed).toBe(2);
    expect(bundle.error?.code).toBe('TESTS_FAILED');
    expect(bundle.iterations).toHaveLength(3);
    expectNoOpenSession(runner);
  });

  test('red when the token budget runs out before maxIterations', async () => {
    const generator = new ScriptedCodeGenerator({ files: BUGGY, usage: { inputTokens: 600, outputTokens: 500 } });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner });
    const bundle = await agent.execute({ ...PLAN, maxIterations: 10, budget: { maxTokens: 2_000 } });
    expect(bundle.status).toBe('partial_success');
    expect(bundle.stopReason).toBe('token_budget');
    expect(bundle.error?.code).toBe('BUDGET_EXHAUSTED');
    expect(bundle.iterations).toHaveLength(2);
    // The generator is told what is left.
    expect(generator.calls[0]?.remainingTokens).toBe(2_000);
    expect(generator.calls[1]?.remainingTokens).toBe(900);
    expectNoOpenSession(runner);
  });

  test('red when the cost budget runs out', async () => {
    const generator = new ScriptedCodeGenerator({ files: BUGGY, usage: { costUsd: 0.04 } });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner }).execute({ ...PLAN, maxIterations: 10, budget: { maxCostUsd: 0.1 } });
    expect(bundle.stopReason).toBe('cost_budget');
    expect(bundle.iterations).toHaveLength(3);
    expect(bundle.usage.costUsd).toBeCloseTo(0.12);
    expectNoOpenSession(runner);
  });

  test('a retryable generator error fails that iteration only; the next request states the problem', async () => {
    const generator = new ScriptedCodeGenerator([{ error: new Error('model overloaded') }, { files: FIXED }]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner }).execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.iterations[0]?.error).toEqual({ code: 'GENERATION_FAILED', message: 'model overloaded' });
    expect(generator.calls[1]?.problem).toContain('model overloaded');
    expectNoOpenSession(runner);
  });

  test('a non-retryable generator error ends the run as failure, and the sandbox opened in parallel is closed', async () => {
    const generator = new ScriptedCodeGenerator({ error: new GenerationError('invalid API key', { retryable: false }) });
    const runner = new FakeSandboxRunner({ openLatencyMs: 20 });
    const bundle = await new PTCAgent({ generator, runner }).execute(PLAN);
    expect(bundle.status).toBe('failure');
    expect(bundle.stopReason).toBe('generation_failed');
    expect(bundle.error?.code).toBe('GENERATION_FAILED');
    expect(generator.calls).toHaveLength(1);
    // The open started beside generation, and was told to stop when the run ended.
    expect(runner.openSpecs).toHaveLength(1);
    expect(runner.openSpecs[0]?.signal.aborted).toBe(true);
    expectNoOpenSession(runner);
  });

  test('generation failing every time: failure, no files', async () => {
    const generator = new ScriptedCodeGenerator({ error: new Error('nope') });
    const runner = new FakeSandboxRunner();
    const bundle = await new PTCAgent({ generator, runner }).execute({ ...PLAN, maxIterations: 2 });
    expect(bundle.status).toBe('failure');
    expect(bundle.files).toEqual([]);
    expect(bundle.bestIteration).toBe(0);
    expect(generator.calls).toHaveLength(2);
    expectNoOpenSession(runner);
  });

  test.each([
    ['open', { faults: { open: new Error('quota exceeded') } }, 'SANDBOX_OPEN_FAILED'],
    ['writeFiles', { faults: { sync: new Error('disk full') } }, 'SANDBOX_FAILED'],
    ['run', { faults: { run: new Error('daemon gone') } }, 'SANDBOX_FAILED'],
    ['readFile', { faults: { readFile: new Error('io error') } }, 'SANDBOX_FAILED'],
  ] as const)('a sandbox error in %s ends the run as failure with that code', async (_phase, options, code) => {
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const runner = new FakeSandboxRunner(options);
    const bundle = await new PTCAgent({ generator, runner }).execute(PLAN);
    expect(bundle.status).toBe('failure');
    expect(bundle.stopReason).toBe('sandbox_failed');
    expect(bundle.error?.code).toBe(code);
    expect(bundle.files.length).toBeGreaterThan(0);
    expectValidBundle(bundle);
    expectNoOpenSession(runner);
  });

  test('a session whose close throws (breaking the contract) still ends the run with a warning', async () => {
    const runner = new FakeSandboxRunner({ faults: { close: new Error('close exploded') } });
    const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner }).execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.warnings.join('\n')).toContain('close exploded');
    expect(runner.closed).toBe(1);
  });

  test('a session whose close throws synchronously (not a rejected promise) also ends the run with a warning', async () => {
    const fake = new FakeSandboxRunner();
    const runner = wrapSessions(fake, (session) => ({
      close: () => {
        void session.close();
        throw new Error('close threw at once');
      },
    }));
    const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner }).execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.warnings.join('\n')).toContain('close threw at once');
    expectNoOpenSession(fake);
  });

  test('the sandbox opens while the first generation runs, not after it', async () => {
    const order: string[] = [];
    const generator = new ScriptedCodeGenerator(async () => {
      order.push('generate:start');
      await new Promise((resolve) => setTimeout(resolve, 30));
      order.push('generate:end');
      return { files: FIXED };
    });
    const runner = new FakeSandboxRunner({ openLatencyMs: 10 });
    const agent = new PTCAgent({ generator, runner });
    agent.on('sandbox:ready', () => order.push('sandbox:ready'));
    await agent.execute(PLAN);
    expect(order).toEqual(['generate:start', 'sandbox:ready', 'generate:end']);
  });

  test('dependencies and the preset requirements reach open(); the host environment does not', async () => {
    const runner = new FakeSandboxRunner();
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, sandboxEnv: { MY_FLAG: '1' } });
    await agent.execute({ ...PLAN, language: 'typescript', dependencies: ['zod@^4'] });
    expect(runner.openSpecs[0]?.dependencies).toEqual(['tsx', 'zod@^4']);
    expect(runner.openSpecs[0]?.env).toEqual({ MY_FLAG: '1' });
  });

  test('files dropped by a later iteration are removed from the workspace', async () => {
    const extra = [...BUGGY, { path: 'old_helper.py', content: 'x = 1\n' }];
    const generator = new ScriptedCodeGenerator([{ files: extra }, { files: FIXED }]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    await new PTCAgent({ generator, runner }).execute(PLAN);
    expect(runner.sessions[0]?.files.has('old_helper.py')).toBe(false);
    expect(runner.sessions[0]?.files.get('calc.py')).toContain('a + b');
  });

  test('with testing disabled: one generation, no sandbox, success', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const runner = new FakeSandboxRunner();
    const bundle = await new PTCAgent({ generator, runner }).execute({ ...PLAN, enableTesting: false });
    expect(bundle.status).toBe('success');
    expect(bundle.stopReason).toBe('testing_disabled');
    expect(bundle.testReport).toBeUndefined();
    expect(runner.opened).toBe(0);
  });

  test('"no tests collected" is never green', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const runner = new FakeSandboxRunner({ results: { exitCode: 5 } });
    const bundle = await new PTCAgent({ generator, runner }).execute({ ...PLAN, maxIterations: 1 });
    expect(bundle.status).toBe('partial_success');
    expect(bundle.testReport?.success).toBe(false);
    expect(bundle.testReport?.problem).toContain('no tests');
  });
});
