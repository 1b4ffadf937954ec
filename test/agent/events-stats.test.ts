import { describe, expect, test } from 'vitest';
import { EVENT_NAMES, PTCAgent, type PTCStreamItem } from '../../src/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { BUGGY, FIXED, PLAN, expectNoOpenSession, judgeCalc } from '../helpers.js';

describe('events', () => {
  test('a refined run emits the phases in order, each payload with execution id and timestamp', async () => {
    const generator = new ScriptedCodeGenerator([{ files: BUGGY }, { files: FIXED }], { progressTokens: 42 });
    const runner = new FakeSandboxRunner({ results: judgeCalc, openLatencyMs: 5 });
    const agent = new PTCAgent({ generator, runner, cache: new MemoryCache() });
    const seen: Array<{ name: string; executionId: string; timestamp: number }> = [];
    for (const name of EVENT_NAMES) agent.on(name, (payload) => seen.push({ name, executionId: payload.executionId, timestamp: payload.timestamp }));
    await agent.execute({ ...PLAN, executionId: 'evt-1', dependencies: ['requests'] });
    expect(seen.map((event) => event.name)).toEqual([
      'run:start',
      'cache:miss',
      'generation:start',
      'generation:progress',
      'generation:end',
      'dependencies:installed',
      'sandbox:ready',
      'tests:start',
      'tests:end',
      'iteration:end',
      'generation:start',
      'generation:progress',
      'generation:end',
      'tests:start',
      'tests:end',
      'iteration:end',
      'run:end',
    ]);
    for (const event of seen) {
      expect(event.executionId).toBe('evt-1');
      expect(event.timestamp).toBeGreaterThan(1_700_000_000_000);
    }
  });

  test('stream() yields the run\'s events and ends with the bundle', async () => {
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner() });
    const items: PTCStreamItem[] = [];
    for await (const item of agent.stream({ ...PLAN, executionId: 's-1' })) items.push(item);
    expect(items[0]?.type).toBe('run:start');
    expect(items.at(-2)?.type).toBe('run:end');
    const last = items.at(-1);
    expect(last?.type).toBe('bundle');
    if (last?.type === 'bundle') expect(last.bundle.executionId).toBe('s-1');
  });

  test('concurrent streams only see their own run', async () => {
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED, delayMs: 5 }), runner: new FakeSandboxRunner() });
    const collect = async (id: string, task: string) => {
      const ids = new Set<string>();
      for await (const item of agent.stream({ taskDescription: task, executionId: id })) if (item.type !== 'bundle') ids.add(item.executionId);
      return [...ids];
    };
    const [a, b] = await Promise.all([collect('a', 'task one'), collect('b', 'task two')]);
    expect(a).toEqual(['a']);
    expect(b).toEqual(['b']);
  });

  test('stream() of an invalid plan throws PlanValidationError', async () => {
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner() });
    await expect(async () => {
      for await (const _ of agent.stream({ taskDescription: '' })) void _;
    }).rejects.toMatchObject({ code: 'PLAN_INVALID' });
  });

  test('secrets never reach events, errors or bundles', async () => {
    const secret = 'sk-ant-test-0123456789abcdef';
    process.env.PTC_TEST_API_KEY = secret;
    try {
      const generator = new ScriptedCodeGenerator([{ error: new Error(`401 invalid x-api-key ${secret}`) }, { files: FIXED, notes: `used ${secret}` }]);
      const runner = new FakeSandboxRunner({ results: { failed: [{ name: 't', message: `env leaked ${secret}` }], stdout: `KEY=${secret}` } });
      const agent = new PTCAgent({ generator, runner, secrets: ['another-secret-value'] });
      const events: unknown[] = [];
      for (const name of EVENT_NAMES) agent.on(name, (payload) => events.push(payload));
      const bundle = await agent.execute({ ...PLAN, maxIterations: 2 });
      const everything = JSON.stringify({ bundle, events });
      expect(everything).toContain('[redacted]');
      expect(everything).not.toContain(secret);
    } finally {
      delete process.env.PTC_TEST_API_KEY;
    }
  });
});

describe('concurrency and stats', () => {
  test('maxConcurrent bounds the runs in flight; the rest queue in order', async () => {
    let running = 0;
    let peak = 0;
    const order: string[] = [];
    const generator = new ScriptedCodeGenerator(async (request) => {
      running += 1;
      peak = Math.max(peak, running);
      order.push(request.executionId);
      await new Promise((resolve) => setTimeout(resolve, 10));
      running -= 1;
      return { files: FIXED };
    });
    const runner = new FakeSandboxRunner();
    const agent = new PTCAgent({ generator, runner, maxConcurrent: 3 });
    const snapshots: { inFlight: number; queued: number }[] = [];
    agent.on('run:queued', () => snapshots.push({ inFlight: agent.stats().inFlight, queued: agent.stats().queued }));
    const runs = Array.from({ length: 10 }, (_, index) => agent.execute({ taskDescription: `task ${index}`, executionId: `r${index}` }));
    await Promise.all(runs);
    // Runs reach the queue after their cache lookup (which needs no slot): 7 of them waited,
    // behind 3 in flight.
    expect(snapshots).toHaveLength(7);
    expect(snapshots.every((snapshot) => snapshot.inFlight === 3)).toBe(true);
    expect(snapshots.map((snapshot) => snapshot.queued)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(peak).toBe(3);
    expect(order).toEqual(Array.from({ length: 10 }, (_, index) => `r${index}`));
    expectNoOpenSession(runner);
  });

  test('many queued runs without a signal register no listeners (no MaxListenersExceededWarning)', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED, delayMs: 1 }), runner: new FakeSandboxRunner(), maxConcurrent: 1 });
      await Promise.all(Array.from({ length: 30 }, (_, index) => agent.execute({ taskDescription: `queued ${index}` })));
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).not.toContain('MaxListenersExceededWarning');
  });

  test('stats add up', async () => {
    const generator = new ScriptedCodeGenerator(async (request) =>
      request.plan.taskDescription.includes('bad') ? { error: new Error('x') } : { files: FIXED, usage: { inputTokens: 10, outputTokens: 5, costUsd: 0.5 } },
    );
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner(), cache: new MemoryCache() });
    await agent.execute({ taskDescription: 'good', cacheStrategy: 'always' });
    await agent.execute({ taskDescription: 'good', cacheStrategy: 'always' });
    await agent.execute({ taskDescription: 'bad', maxIterations: 1 });
    const stats = agent.stats();
    expect(stats).toMatchObject({ total: 3, succeeded: 2, failed: 1, cacheHits: 1, inFlight: 0, queued: 0, tokens: 15, costUsd: 0.5 });
    expect(stats.p50DurationMs).toBeGreaterThanOrEqual(0);
    expect(stats.p95DurationMs).toBeGreaterThanOrEqual(stats.p50DurationMs);
  });
});

describe('options', () => {
  test.each([
    [{ maxConcurrent: 0 }, 'maxConcurrent'],
    [{ maxConcurrent: 1.5 }, 'maxConcurrent'],
    [{ defaultTimeoutMs: -1 }, 'defaultTimeoutMs'],
    [{ cacheTimeoutMs: Number.NaN }, 'cacheTimeoutMs'],
    // Past setTimeout's limit a timer fires at once: every run would time out immediately.
    [{ defaultTimeoutMs: 2 ** 31 }, 'defaultTimeoutMs'],
    [{ testTimeoutMs: 2 ** 31 }, 'testTimeoutMs'],
    [{ fileLimits: { maxFiles: 0 } }, 'fileLimits.maxFiles'],
    [{ sandboxEnv: { A: 1 as unknown as string } }, 'sandboxEnv.A'],
  ])('%o is a TypeError naming the option', (bad, name) => {
    expect(() => new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner(), ...bad })).toThrow(
      expect.objectContaining({ name: 'TypeError', message: expect.stringContaining(name) }),
    );
  });

  test('a missing generator, or a runner that is not one, is a TypeError', () => {
    expect(() => new PTCAgent({ runner: new FakeSandboxRunner() } as never)).toThrow(TypeError);
    expect(() => new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: {} as never })).toThrow(/runner/);
  });

  test('the embedded defaults: the local runner and no cache, with no I/O at construction', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const agent = new PTCAgent({ generator });
    expect(agent.stats().total).toBe(0);
    // Testing off keeps this offline and instant; without a cache the second call runs again.
    await agent.execute({ ...PLAN, enableTesting: false, cacheStrategy: 'always' });
    const second = await agent.execute({ ...PLAN, enableTesting: false, cacheStrategy: 'always' });
    expect(second.fromCache).toBe(false);
    expect(generator.calls).toHaveLength(2);
  });
});
