import { describe, expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import type { Cache } from '../../src/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { BUGGY, FIXED, PLAN, expectNoOpenSession, judgeCalc } from '../helpers.js';

const makeAgent = (cache: Cache, files = FIXED, extra: Partial<ConstructorParameters<typeof PTCAgent>[0]> = {}) => {
  const generator = new ScriptedCodeGenerator({ files });
  const runner = new FakeSandboxRunner({ results: judgeCalc });
  return { generator, runner, agent: new PTCAgent({ generator, runner, cache, ...extra }) };
};

describe('cache strategies', () => {
  test('miss then hit: the hit makes no generator call and opens no sandbox', async () => {
    const cache = new MemoryCache();
    const { agent, generator, runner } = makeAgent(cache);
    const first = await agent.execute({ ...PLAN, executionId: 'one' });
    expect(first.fromCache).toBe(false);
    const hits: string[] = [];
    agent.on('cache:hit', (event) => hits.push(event.executionId));
    const second = await agent.execute({ ...PLAN, executionId: 'two' });
    expect(second.fromCache).toBe(true);
    expect(second.executionId).toBe('two');
    expect(second.cacheKey).toBe(first.cacheKey);
    expect(second.files).toEqual(first.files);
    expect(hits).toEqual(['two']);
    expect(generator.calls).toHaveLength(1);
    expect(runner.opened).toBe(1);
    expect(agent.stats().cacheHits).toBe(1);
    expectNoOpenSession(runner);
  });

  test('the key ignores list order, whitespace and the execution id', async () => {
    const cache = new MemoryCache();
    const { agent, generator } = makeAgent(cache);
    await agent.execute({ taskDescription: 'Write  add', requirements: ['a', 'b'], dependencies: ['x', 'y'] });
    const again = await agent.execute({ taskDescription: ' Write add ', requirements: ['b', 'a'], dependencies: ['y', 'x'], executionId: 'other' });
    expect(again.fromCache).toBe(true);
    expect(generator.calls).toHaveLength(1);
  });

  test('never: no read, no write', async () => {
    const cache = new MemoryCache();
    const { agent, generator } = makeAgent(cache);
    await agent.execute({ ...PLAN, cacheStrategy: 'never' });
    await agent.execute({ ...PLAN, cacheStrategy: 'never' });
    expect(cache.gets).toBe(0);
    expect(cache.sets).toBe(0);
    expect(generator.calls).toHaveLength(2);
  });

  test('smart stores only successes and ignores a stored partial result', async () => {
    const cache = new MemoryCache();
    const red = makeAgent(cache, BUGGY);
    const partial = await red.agent.execute({ ...PLAN, maxIterations: 1, cacheStrategy: 'smart' });
    expect(partial.status).toBe('partial_success');
    expect(cache.sets).toBe(0);
    // Plant a partial result under the key: smart must not use it.
    await cache.set(partial.cacheKey!, partial, { ttlMs: 0, signal: new AbortController().signal });
    const again = await red.agent.execute({ ...PLAN, maxIterations: 1, cacheStrategy: 'smart' });
    expect(again.fromCache).toBe(false);
    expect(red.generator.calls).toHaveLength(2);
  });

  test('always stores and uses a partial result', async () => {
    const cache = new MemoryCache();
    const { agent, generator } = makeAgent(cache, BUGGY);
    const first = await agent.execute({ ...PLAN, maxIterations: 1, cacheStrategy: 'always' });
    expect(first.status).toBe('partial_success');
    expect(cache.sets).toBe(1);
    const second = await agent.execute({ ...PLAN, maxIterations: 1, cacheStrategy: 'always' });
    expect(second.fromCache).toBe(true);
    expect(second.status).toBe('partial_success');
    expect(generator.calls).toHaveLength(1);
  });

  test('smart with testing enabled ignores a success without a test report', async () => {
    const cache = new MemoryCache();
    const untested = makeAgent(cache);
    const bundle = await untested.agent.execute({ ...PLAN, enableTesting: false, cacheStrategy: 'always' });
    // Same key needs the same enableTesting, so plant it under the tested plan's key by hand.
    const key = untested.agent.cacheKeyFor(PLAN);
    await cache.set(key, bundle, { ttlMs: 0, signal: new AbortController().signal });
    const tested = await untested.agent.execute({ ...PLAN, cacheStrategy: 'smart' });
    expect(tested.fromCache).toBe(false);
    expect(tested.testReport).toBeDefined();
  });

  test('a different generator id is a different key', async () => {
    const cache = new MemoryCache();
    await makeAgent(cache).agent.execute(PLAN);
    const other = new ScriptedCodeGenerator({ files: FIXED }, { id: 'other-model' });
    const agent = new PTCAgent({ generator: other, runner: new FakeSandboxRunner(), cache });
    expect((await agent.execute(PLAN)).fromCache).toBe(false);
  });

  test('the TTL reaches the cache', async () => {
    const ttls: number[] = [];
    const cache = new MemoryCache();
    const spy: Cache = { get: cache.get.bind(cache), delete: cache.delete.bind(cache), set: (key, bundle, options) => (ttls.push(options.ttlMs), cache.set(key, bundle, options)) };
    await makeAgent(spy).agent.execute({ ...PLAN, cacheTtlMs: 1234 });
    expect(ttls).toEqual([1234]);
  });
});

describe('a faulty cache never fails a run', () => {
  const cases: Array<[string, Cache]> = [
    ['get throws', { get: async () => { throw new Error('ECONNREFUSED'); }, set: async () => {}, delete: async () => {} }],
    ['get hangs and ignores its signal', { get: () => new Promise(() => {}), set: async () => {}, delete: async () => {} }],
    ['get returns garbage', { get: async () => ({ hello: 'world' }), set: async () => {}, delete: async () => {} }],
    ['get returns a string', { get: async () => 'not a bundle', set: async () => {}, delete: async () => {} }],
    ['set throws', { get: async () => undefined, set: async () => { throw new Error('READONLY'); }, delete: async () => {} }],
    ['set hangs', { get: async () => undefined, set: () => new Promise(() => {}), delete: async () => {} }],
  ];
  test.each(cases)('%s: a warning, and the run goes on', async (name, cache) => {
    const { agent, runner } = makeAgent(cache, FIXED, { cacheTimeoutMs: 50 });
    const warnings: string[] = [];
    agent.on('warning', (event) => warnings.push(event.message));
    const bundle = await agent.execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(warnings.length).toBeGreaterThan(0);
    if (name.startsWith('get')) expect(bundle.warnings.length).toBeGreaterThan(0);
    expectNoOpenSession(runner);
  });

  test('an in-process cache (inProcess) is called without a per-call timeout; any other cache is bounded by cacheTimeoutMs', async () => {
    // A get that takes 80 ms against a 20 ms cacheTimeoutMs: only the cache that does not claim
    // to be in process is timed out. (A real in-process cache settles at once; the conformance
    // suite holds it to that.)
    const slowGet = (inProcess: boolean): Cache => {
      const cache = new MemoryCache();
      return {
        inProcess,
        get: (key, options) => new Promise((resolve) => setTimeout(() => resolve(cache.get(key, options)), 80)),
        set: (key, bundle, options) => cache.set(key, bundle, options),
        delete: (key, options) => cache.delete(key, options),
      };
    };
    const timedOut = await makeAgent(slowGet(false), FIXED, { cacheTimeoutMs: 20 }).agent.execute(PLAN);
    expect(timedOut.warnings.join('\n')).toMatch(/cache read.*timed out after 20 ms/);
    const inProcess = await makeAgent(slowGet(true), FIXED, { cacheTimeoutMs: 20 }).agent.execute(PLAN);
    expect(inProcess.status).toBe('success');
    expect(inProcess.warnings).toEqual([]);
  });

  test('a corrupt entry is a miss: the run regenerates', async () => {
    const cache = new MemoryCache();
    const { agent, generator } = makeAgent(cache);
    const key = agent.cacheKeyFor(PLAN);
    cache.entries.set(key, { json: JSON.stringify({ executionId: 'x', status: 'success' }), expiresAt: 0 });
    const bundle = await agent.execute(PLAN);
    expect(bundle.fromCache).toBe(false);
    expect(bundle.warnings.join()).toContain('failed validation');
    expect(generator.calls).toHaveLength(1);
  });
});

describe('single flight', () => {
  test('N concurrent identical plans make one generation and one sandbox', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 30 });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner, cache: new MemoryCache() });
    const bundles = await Promise.all(Array.from({ length: 8 }, (_, index) => agent.execute({ ...PLAN, executionId: `twin-${index}` })));
    expect(generator.calls).toHaveLength(1);
    expect(runner.opened).toBe(1);
    expect(bundles.map((bundle) => bundle.executionId)).toEqual(Array.from({ length: 8 }, (_, index) => `twin-${index}`));
    expect(bundles.filter((bundle) => bundle.fromCache)).toHaveLength(7);
    expect(new Set(bundles.map((bundle) => bundle.status))).toEqual(new Set(['success']));
    expectNoOpenSession(runner);
  });

  test('works without a cache too', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 30 });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner() });
    await Promise.all([agent.execute(PLAN), agent.execute(PLAN), agent.execute(PLAN)]);
    expect(generator.calls).toHaveLength(1);
  });

  test('a twin whose leader was cancelled runs on its own', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 40 });
    const runner = new FakeSandboxRunner();
    const agent = new PTCAgent({ generator, runner });
    const controller = new AbortController();
    const leader = agent.execute(PLAN, { signal: controller.signal });
    const follower = agent.execute(PLAN);
    setTimeout(() => controller.abort(), 10);
    expect((await leader).status).toBe('cancelled');
    const bundle = await follower;
    expect(bundle.status).toBe('success');
    expect(bundle.fromCache).toBe(false);
    expect(generator.calls).toHaveLength(2);
    expectNoOpenSession(runner);
  });

  test('cacheStrategy never opts out of sharing', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 20 });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner() });
    await Promise.all([agent.execute({ ...PLAN, cacheStrategy: 'never' }), agent.execute({ ...PLAN, cacheStrategy: 'never' })]);
    expect(generator.calls).toHaveLength(2);
  });
});
