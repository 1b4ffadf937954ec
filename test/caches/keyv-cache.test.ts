import { defaultSerialize } from '@keyv/serialize';
import { Keyv, type KeyvStoreAdapter } from 'keyv';
import { describe, expect, test } from 'vitest';
import { KeyvCache, type CacheWarning } from '../../src/caches/keyv.js';
import { CACHE_FORMAT_VERSION } from '../../src/cache-key.js';
import { PTCError, PTCTimeoutError } from '../../src/errors.js';
import { cacheConformance, sampleBundle } from '../../src/testing/conformance/cache.js';
import { MemoryCache } from '../../src/testing/memory-cache.js';

const signal = () => new AbortController().signal;

cacheConformance(test, () => new KeyvCache(), { name: 'KeyvCache (memory) conformance' });
// The suite must hold for other implementations too, or it tests KeyvCache rather than the contract.
cacheConformance(test, () => new MemoryCache(), { name: 'MemoryCache conformance' });

/** A Map store whose raw values the test can read and plant. */
function mapBackedCache(warnings: CacheWarning[] = []) {
  const store = new Map<string, unknown>();
  const cache = new KeyvCache({ keyv: new Keyv({ store, namespace: 'ns' }), onWarning: (warning) => warnings.push(warning) });
  return { store, cache, warnings };
}

type Behaviour = 'hang' | 'throw' | 'refuse';

/** A Keyv store that hangs, throws, or (set) reports `false`, as a sick remote store does. */
class SickStore implements KeyvStoreAdapter {
  opts = {};
  namespace?: string;
  calls = 0;
  constructor(private readonly behaviour: Behaviour) {}
  on() {
    return this;
  }
  private act<T>(value: T): Promise<T> {
    this.calls += 1;
    if (this.behaviour === 'hang') return new Promise<T>(() => {});
    if (this.behaviour === 'throw') return Promise.reject(new Error('store exploded'));
    return Promise.resolve(value);
  }
  get() {
    return this.act(undefined);
  }
  set() {
    return this.act(false);
  }
  delete() {
    return this.act(false);
  }
  clear() {
    return this.act(undefined);
  }
}

function sickCache(behaviour: Behaviour, keyvOptions: { throwOnErrors?: boolean } = { throwOnErrors: true }) {
  const warnings: CacheWarning[] = [];
  const store = new SickStore(behaviour);
  const cache = new KeyvCache({
    keyv: new Keyv({ store, ...keyvOptions }),
    operationTimeoutMs: 50,
    onWarning: (warning) => warnings.push(warning),
  });
  return { cache, store, warnings };
}

describe('KeyvCache entries', () => {
  test('stores { format, storedAt, bundle } under the Keyv namespace, with the TTL as expiry', async () => {
    const { store, cache } = mapBackedCache();
    const before = Date.now();
    await cache.set('ptc:v1:abc', sampleBundle('entry'), { ttlMs: 60_000, signal: signal() });
    expect([...store.keys()]).toEqual(['ns:ptc:v1:abc']);
    const raw = JSON.parse(String(store.get('ns:ptc:v1:abc'))) as {
      value: { format: number; storedAt: string; bundle: unknown };
      expires: number;
    };
    expect(raw.value.format).toBe(CACHE_FORMAT_VERSION);
    expect(Date.parse(raw.value.storedAt)).toBeGreaterThanOrEqual(before - 1_000);
    expect(raw.value.bundle).toMatchObject({ executionId: 'conformance-entry', status: 'success' });
    expect(raw.expires).toBeGreaterThanOrEqual(before + 60_000);
  });

  test('ttlMs 0 stores without expiry', async () => {
    const { store, cache } = mapBackedCache();
    await cache.set('k', sampleBundle(), { ttlMs: 0, signal: signal() });
    const raw = JSON.parse(String(store.get('ns:k'))) as { expires?: number };
    expect(raw.expires).toBeUndefined();
  });

  test('the default store is an in-memory Keyv with the ptc-agent namespace, or the one given', () => {
    expect(new KeyvCache().keyv.namespace).toBe('ptc-agent');
    expect(new KeyvCache({ namespace: 'mine' }).keyv.namespace).toBe('mine');
  });

  const planted: Array<[string, string, RegExp]> = [
    ['text that is not JSON', 'definitely { not json', /not JSON/],
    ['JSON without the Keyv envelope', JSON.stringify({ foo: 1 }), /not a ptc-agent cache entry|not a Keyv entry/],
    ['a bare JSON string', JSON.stringify('hello'), /not a Keyv entry/],
    ['a foreign value in the envelope', JSON.stringify({ value: { hello: 'world' } }), /not a ptc-agent cache entry/],
    ['an entry of an older format', JSON.stringify({ value: { format: 0, storedAt: 'x', bundle: sampleBundle() } }), /format 0/],
    ['an entry of a newer format', JSON.stringify({ value: { format: CACHE_FORMAT_VERSION + 1, storedAt: 'x', bundle: sampleBundle() } }), /format 2/],
    ['a bundle that fails the schema', JSON.stringify({ value: { format: CACHE_FORMAT_VERSION, storedAt: 'x', bundle: { ...sampleBundle(), status: 'great' } } }), /invalid bundle[\s\S]*status/],
  ];

  test.each(planted)('%s is a miss plus a CACHE_ENTRY_INVALID warning', async (_label, value, problem) => {
    const { store, cache, warnings } = mapBackedCache();
    store.set('ns:bad', value);
    expect(await cache.get('bad', { signal: signal() })).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ code: 'CACHE_ENTRY_INVALID', key: 'bad' });
    expect(warnings[0]!.message).toMatch(problem);
    // The bad entry does not poison the key: the next set overwrites it.
    await cache.set('bad', sampleBundle('fixed'), { ttlMs: 0, signal: signal() });
    expect(await cache.get('bad', { signal: signal() })).toEqual(sampleBundle('fixed'));
  });

  test('a valid entry is returned without a warning, unknown extra fields stripped', async () => {
    const { store, cache, warnings } = mapBackedCache();
    // Keyv's serializer, as the sample holds strings that look like its ':base64:' Buffer marker.
    store.set('ns:extra', defaultSerialize({ value: { format: CACHE_FORMAT_VERSION, storedAt: 'x', bundle: { ...sampleBundle('extra'), surprise: true } } }));
    expect(await cache.get('extra', { signal: signal() })).toEqual(sampleBundle('extra'));
    expect(warnings).toEqual([]);
  });

  test('a throwing onWarning listener does not turn a miss into a failure', async () => {
    const store = new Map<string, unknown>([['ns:bad', 'not json']]);
    const cache = new KeyvCache({
      keyv: new Keyv({ store, namespace: 'ns' }),
      onWarning: () => {
        throw new Error('listener bug');
      },
    });
    expect(await cache.get('bad', { signal: signal() })).toBeUndefined();
  });
});

describe('KeyvCache memory bound', () => {
  test('the default in-memory store keeps at most maxEntries, dropping the oldest written', async () => {
    const cache = new KeyvCache({ maxEntries: 3 });
    const signal = new AbortController().signal;
    for (const key of ['a', 'b', 'c', 'd']) await cache.set(key, sampleBundle(key), { ttlMs: 0, signal });
    expect(await cache.get('a', { signal })).toBeUndefined();
    expect((await cache.get('b', { signal }))?.executionId).toBe(sampleBundle('b').executionId);
    expect((await cache.get('d', { signal }))?.executionId).toBe(sampleBundle('d').executionId);
    // Rewriting a key makes it the newest: 'b' survives the next insertion, 'c' does not.
    await cache.set('b', sampleBundle('b'), { ttlMs: 0, signal });
    await cache.set('e', sampleBundle('e'), { ttlMs: 0, signal });
    expect(await cache.get('c', { signal })).toBeUndefined();
    expect(await cache.get('b', { signal })).toBeDefined();
  });

  test('maxEntries must be a positive integer and belongs to the default store only', () => {
    expect(() => new KeyvCache({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => new KeyvCache({ maxEntries: 2.5 })).toThrow(/maxEntries/);
    expect(() => new KeyvCache({ maxEntries: 5, keyv: new KeyvCache().keyv })).toThrow(/maxEntries/);
  });
});

describe('KeyvCache faults', () => {
  test('a hanging store: get is a miss plus a warning once operationTimeoutMs passes', async () => {
    const { cache, warnings } = sickCache('hang');
    expect(await cache.get('k', { signal: signal() })).toBeUndefined();
    expect(warnings).toEqual([{ code: 'CACHE_UNAVAILABLE', key: 'k', message: 'Cache get failed: timed out after 50 ms' }]);
  });

  test('a hanging store: set and delete reject with CACHE_FAILED, the timeout as cause', async () => {
    const { cache } = sickCache('hang');
    for (const call of [
      () => cache.set('k', sampleBundle(), { ttlMs: 1_000, signal: signal() }),
      () => cache.delete('k', { signal: signal() }),
    ]) {
      const error = await call().then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(PTCError);
      expect(error).toMatchObject({ code: 'CACHE_FAILED' });
      expect((error as PTCError).cause).toBeInstanceOf(PTCTimeoutError);
    }
  });

  test('a throwing store: get is a miss plus a warning; set rejects with the store error as cause', async () => {
    const { cache, warnings } = sickCache('throw');
    expect(await cache.get('k', { signal: signal() })).toBeUndefined();
    expect(warnings[0]).toMatchObject({ code: 'CACHE_UNAVAILABLE', message: expect.stringContaining('store exploded') });
    const error = await cache.set('k', sampleBundle(), { ttlMs: 1_000, signal: signal() }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'CACHE_FAILED', cause: expect.objectContaining({ message: 'store exploded' }) });
  });

  test('a store error swallowed by Keyv (set returns false) still rejects set', async () => {
    const { cache } = sickCache('throw', {});
    await expect(cache.set('k', sampleBundle(), { ttlMs: 1_000, signal: signal() })).rejects.toMatchObject({ code: 'CACHE_FAILED' });
  });

  test('a store that refuses the write rejects set', async () => {
    const { cache } = sickCache('refuse');
    await expect(cache.set('k', sampleBundle(), { ttlMs: 1_000, signal: signal() })).rejects.toMatchObject({
      code: 'CACHE_FAILED',
      message: expect.stringContaining('did not confirm'),
    });
    // delete's `false` means "not there" as often as "failed", so it is not an error.
    await expect(cache.delete('k', { signal: signal() })).resolves.toBeUndefined();
  });

  test('aborting mid-call: get is a plain miss (no warning), set rejects with ABORTED', async () => {
    const { cache, warnings } = sickCache('hang');
    const slowCache = new KeyvCache({ keyv: cache.keyv, operationTimeoutMs: 60_000, onWarning: (warning) => warnings.push(warning) });
    const controller = new AbortController();
    const pendingGet = slowCache.get('k', { signal: controller.signal });
    const pendingSet = slowCache.set('k', sampleBundle(), { ttlMs: 1_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect(await pendingGet).toBeUndefined();
    await expect(pendingSet).rejects.toMatchObject({ code: 'ABORTED' });
    expect(warnings).toEqual([]);
  });

  test('an already aborted signal never reaches the store for get', async () => {
    const { cache, store } = sickCache('hang');
    const controller = new AbortController();
    controller.abort();
    expect(await cache.get('k', { signal: controller.signal })).toBeUndefined();
    await expect(cache.delete('k', { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(store.calls).toBe(0);
  });
});

describe('KeyvCache options', () => {
  test.each([
    [{ operationTimeoutMs: 0 }, /operationTimeoutMs/],
    [{ operationTimeoutMs: -5 }, /operationTimeoutMs/],
    [{ operationTimeoutMs: 1.5 }, /operationTimeoutMs/],
    [{ operationTimeoutMs: '100' }, /operationTimeoutMs/],
    [{ operationTimeoutMs: 3_000_000_000 }, /operationTimeoutMs/],
    [{ namespace: '' }, /namespace/],
    [{ keyv: new Keyv(), namespace: 'x' }, /namespace/],
    [{ keyv: { get: 1 } }, /keyv/],
    [{ onWarning: 'log' }, /onWarning/],
  ])('%o throws a TypeError naming the option', (options, name) => {
    expect(() => new KeyvCache(options as never)).toThrow(TypeError);
    expect(() => new KeyvCache(options as never)).toThrow(name);
  });

  test('set rejects a negative or fractional ttlMs as misuse', async () => {
    const cache = new KeyvCache();
    await expect(cache.set('k', sampleBundle(), { ttlMs: -1, signal: signal() })).rejects.toThrow(TypeError);
    await expect(cache.set('k', sampleBundle(), { ttlMs: 0.5, signal: signal() })).rejects.toThrow(/ttlMs/);
  });
});
