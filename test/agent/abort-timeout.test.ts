import { describe, expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import type { Cache } from '../../src/index.js';
import { FIXED, PLAN, expectNoOpenSession, expectValidBundle } from '../helpers.js';

const hangingCache: Cache = {
  get: (_key, { signal }) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
  set: async () => {},
  delete: async () => {},
};

/** Each phase in which a run can be stopped, with the fakes that park it there. */
const PHASES = {
  'cache lookup': () => ({
    generator: new ScriptedCodeGenerator({ files: FIXED }),
    runner: new FakeSandboxRunner(),
    cache: hangingCache,
    cacheTimeoutMs: 60_000,
  }),
  generation: () => ({
    generator: new ScriptedCodeGenerator({ files: FIXED, delayMs: 60_000 }),
    runner: new FakeSandboxRunner(),
  }),
  'generation that ignores its signal': () => ({
    generator: new ScriptedCodeGenerator(() => new Promise<never>(() => {})),
    runner: new FakeSandboxRunner(),
  }),
  'sandbox open': () => ({
    generator: new ScriptedCodeGenerator({ files: FIXED }),
    runner: new FakeSandboxRunner({ faults: { open: 'hang' } }),
  }),
  'sandbox open that ignores its signal': () => ({
    generator: new ScriptedCodeGenerator({ files: FIXED }),
    runner: new FakeSandboxRunner({ faults: { open: 'hang-ignoring-signal' } }),
  }),
  'writing files': () => ({
    generator: new ScriptedCodeGenerator({ files: FIXED }),
    runner: new FakeSandboxRunner({ faults: { sync: 'hang' } }),
  }),
  'running tests': () => ({
    generator: new ScriptedCodeGenerator({ files: FIXED }),
    runner: new FakeSandboxRunner({ faults: { run: 'hang' } }),
  }),
  'running tests, ignoring the signal': () => ({
    generator: new ScriptedCodeGenerator({ files: FIXED }),
    runner: new FakeSandboxRunner({ faults: { run: 'hang-ignoring-signal' } }),
  }),
};

describe.each(Object.entries(PHASES))('stopped during %s', (phase, make) => {
  test('abort: resolves cancelled and leaves no session open', async () => {
    const { runner, ...rest } = make();
    const agent = new PTCAgent({ runner, ...rest, closeTimeoutMs: 200 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const bundle = await agent.execute(PLAN, { signal: controller.signal });
    expect(bundle.status).toBe('cancelled');
    expect(bundle.stopReason).toBe('cancelled');
    expect(bundle.error?.code).toBe('ABORTED');
    expectValidBundle(bundle);
    if (!phase.includes('open that ignores')) expectNoOpenSession(runner);
    else expect(runner.opened).toBe(0);
  });

  test('timeout: resolves timeout and leaves no session open', async () => {
    const { runner, ...rest } = make();
    const agent = new PTCAgent({ runner, ...rest, closeTimeoutMs: 200 });
    const bundle = await agent.execute({ ...PLAN, timeoutMs: 60 });
    expect(bundle.status).toBe('timeout');
    expect(bundle.error?.code).toBe('TIMEOUT');
    expect(bundle.error?.message).toContain('60 ms');
    if (!phase.includes('open that ignores')) expectNoOpenSession(runner);
    else expect(runner.opened).toBe(0);
  });
});

test("the caller's signal reaches the generator and the runner while they work", async () => {
  const controller = new AbortController();
  const runner = new FakeSandboxRunner();
  let observed: { generator: boolean; runner: boolean } | undefined;
  const generator = new ScriptedCodeGenerator((_request, context) => {
    controller.abort();
    observed = { generator: context.signal.aborted, runner: runner.openSpecs[0]!.signal.aborted };
    return { files: FIXED };
  });
  const bundle = await new PTCAgent({ generator, runner }).execute(PLAN, { signal: controller.signal });
  expect(observed).toEqual({ generator: true, runner: true });
  expect(bundle.status).toBe('cancelled');
});

test("the caller's signal reaches the cache", async () => {
  const controller = new AbortController();
  let cacheSignal: AbortSignal | undefined;
  const cache: Cache = {
    get: (_key, { signal }) => {
      cacheSignal = signal;
      setTimeout(() => controller.abort(), 10);
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
    },
    set: async () => {},
    delete: async () => {},
  };
  const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner(), cache, cacheTimeoutMs: 60_000 }).execute(PLAN, {
    signal: controller.signal,
  });
  expect(cacheSignal?.aborted).toBe(true);
  expect(bundle.status).toBe('cancelled');
});

test('an already-aborted signal resolves cancelled without generating or opening anything', async () => {
  const generator = new ScriptedCodeGenerator({ files: FIXED });
  const runner = new FakeSandboxRunner();
  const controller = new AbortController();
  controller.abort();
  const bundle = await new PTCAgent({ generator, runner }).execute(PLAN, { signal: controller.signal });
  expect(bundle.status).toBe('cancelled');
  expect(generator.calls).toHaveLength(0);
  expect(runner.opened).toBe(0);
});

test('a run aborted while queued leaves the queue and never starts', async () => {
  const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 100 });
  const runner = new FakeSandboxRunner();
  const agent = new PTCAgent({ generator, runner, maxConcurrent: 1 });
  const first = agent.execute({ ...PLAN, cacheStrategy: 'never' });
  const controller = new AbortController();
  const second = agent.execute({ ...PLAN, cacheStrategy: 'never' }, { signal: controller.signal });
  expect(agent.stats().queued).toBe(1);
  controller.abort();
  expect((await second).status).toBe('cancelled');
  expect(agent.stats().queued).toBe(0);
  expect((await first).status).toBe('success');
  expect(generator.calls).toHaveLength(1);
  expectNoOpenSession(runner);
});
