import { describe, expect, test } from 'vitest';
import { PathSafetyError, PTCAgent, type Cache } from '../../src/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator, junitXml } from '../../src/testing/index.js';
import { FIXED, PLAN, expectNoOpenSession, judgeCalc } from '../helpers.js';

const collectWarnings = () => {
  const seen: string[] = [];
  const listener = (warning: Error & { code?: string }) => seen.push(warning.code ?? warning.name);
  process.on('warning', listener);
  return { seen, stop: () => process.off('warning', listener) };
};

describe('listeners that throw', () => {
  test('a throwing sandbox:ready listener neither fails the run nor leaks its session', async () => {
    const warnings = collectWarnings();
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner });
    agent.on('sandbox:ready', () => {
      throw new Error('listener bug');
    });
    const bundle = await agent.execute(PLAN);
    await new Promise((resolve) => setImmediate(resolve));
    warnings.stop();
    expect(bundle.status).toBe('success');
    expectNoOpenSession(runner);
    expect(warnings.seen).toContain('PTC_LISTENER_ERROR');
  });

  test('a throwing warning listener neither rejects execute() nor strands a twin waiting on it', async () => {
    const failingCache: Cache = { get: async () => undefined, set: async () => { throw new Error('READONLY'); }, delete: async () => {} };
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 20 });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner(), cache: failingCache });
    agent.on('warning', () => {
      throw new Error('logger bug');
    });
    const warnings = collectWarnings();
    const [leader, follower] = await Promise.all([agent.execute(PLAN), agent.execute(PLAN)]);
    warnings.stop();
    expect(leader.status).toBe('success');
    expect(follower.status).toBe('success');
    expect(agent.stats()).toMatchObject({ total: 2, inFlight: 0 });
  });
});

describe('time', () => {
  test('time spent queued is not taken from the test timeout', async () => {
    const runner = new FakeSandboxRunner({ runLatencyMs: 5 });
    const agent = new PTCAgent({
      generator: new ScriptedCodeGenerator({ files: FIXED, delayMs: 300 }),
      runner,
      maxConcurrent: 1,
      defaultTimeoutMs: 1_000,
      testTimeoutMs: 800,
    });
    await Promise.all([agent.execute({ taskDescription: 'first' }), agent.execute({ taskDescription: 'second' })]);
    // The second run waited ~300 ms in the queue and ~300 ms generating: 1,000 - 300 is left, not 1,000 - 600.
    const second = runner.sessions[1]!.runOptions[0]!;
    expect(second.timeoutMs).toBeGreaterThan(550);
  });

  test('a twin waiting on a slower identical run keeps its own timeout', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 400 });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner() });
    const leader = agent.execute({ ...PLAN, timeoutMs: 10_000 });
    const follower = await agent.execute({ ...PLAN, timeoutMs: 50 });
    expect(follower.status).toBe('timeout');
    expect(follower.error?.message).toContain('50 ms');
    expect((await leader).status).toBe('success');
  });
});

test('a stream whose consumer stops reading cancels its run and closes the sandbox', async () => {
  let generatorSignal: AbortSignal | undefined;
  const generator = new ScriptedCodeGenerator(async (_request, context) => {
    generatorSignal = context.signal;
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    return { files: FIXED };
  });
  const runner = new FakeSandboxRunner();
  const agent = new PTCAgent({ generator, runner });
  const ended: string[] = [];
  agent.on('run:end', (event) => ended.push(event.status));
  for await (const item of agent.stream(PLAN)) {
    if (item.type === 'generation:start') break;
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(generatorSignal?.aborted).toBe(true);
  expect(ended).toEqual(['cancelled']);
  expectNoOpenSession(runner);
});

describe('acceptance tests must run', () => {
  const acceptance = { path: 'tests/test_acceptance.py', content: 'def test_user():\n    assert True\n' };

  test('a report in which the acceptance file ran nothing is red, whatever else passed', async () => {
    const runner = new FakeSandboxRunner({ results: { report: junitXml([{ name: 'test_smoke', suite: 'tests.test_calc' }]) } });
    const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner }).execute({
      ...PLAN,
      maxIterations: 1,
      acceptanceTests: [acceptance],
    });
    expect(bundle.status).toBe('partial_success');
    expect(bundle.testReport?.success).toBe(false);
    expect(bundle.testReport?.problem).toContain('tests/test_acceptance.py ran no test');
  });

  test('a report with a case of the acceptance module is green', async () => {
    const runner = new FakeSandboxRunner({
      results: { report: junitXml([{ name: 'test_smoke', suite: 'tests.test_calc' }, { name: 'test_user', suite: 'tests.test_acceptance' }]) },
    });
    const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner }).execute({ ...PLAN, acceptanceTests: [acceptance] });
    expect(bundle.status).toBe('success');
  });
});

test('a path the sandbox refuses fails that iteration only', async () => {
  const runner = new FakeSandboxRunner({
    results: judgeCalc,
    faults: { sync: new PathSafetyError('node_modules/x.js', 'inside a directory the runner reserves') },
    faultOnCall: 0,
  });
  const generator = new ScriptedCodeGenerator({ files: FIXED });
  const bundle = await new PTCAgent({ generator, runner }).execute(PLAN);
  expect(bundle.iterations[0]?.error?.code).toBe('OUTPUT_REJECTED');
  expect(generator.calls[1]?.problem).toContain('reserves');
  expect(bundle.status).toBe('success');
  expectNoOpenSession(runner);
});

test('secret-looking sandboxEnv values are scrubbed from what tests print', async () => {
  const token = 'sandbox-token-0123456789';
  const runner = new FakeSandboxRunner({ results: { failed: [{ name: 't', message: `saw ${token}` }], stdout: `MY_TOKEN=${token}` } });
  const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, sandboxEnv: { MY_TOKEN: token }, cache: new MemoryCache() });
  const bundle = await agent.execute({ ...PLAN, maxIterations: 1 });
  expect(JSON.stringify(bundle)).not.toContain(token);
  expect(bundle.testReport?.stdout).toContain('[redacted]');
});
