import { describe, expect, test } from 'vitest';
import { LruCache } from '../../src/caches/lru.js';
import { PTCAgent } from '../../src/agent.js';
import { PTCError } from '../../src/errors.js';
import { cacheConformance, sampleBundle } from '../../src/testing/conformance/cache.js';
import { FakeSandboxRunner } from '../../src/testing/fake-runner.js';
import { ScriptedCodeGenerator } from '../../src/testing/scripted-generator.js';

const signal = () => new AbortController().signal;

cacheConformance(test, () => new LruCache(), { name: 'LruCache conformance' });

describe('LruCache', () => {
  test('is bounded in bytes: the least recently used entry goes first', async () => {
    const one = JSON.stringify(sampleBundle('a')).length + 'key-a'.length;
    // Room for two entries, not three.
    const cache = new LruCache({ maxSizeBytes: Math.floor(one * 2.5) });
    await cache.set('key-a', sampleBundle('a'), { signal: signal(), ttlMs: 0 });
    await cache.set('key-b', sampleBundle('b'), { signal: signal(), ttlMs: 0 });
    // Reading a makes b the least recently used.
    expect(await cache.get('key-a', { signal: signal() })).toBeDefined();
    await cache.set('key-c', sampleBundle('c'), { signal: signal(), ttlMs: 0 });
    expect(await cache.get('key-b', { signal: signal() })).toBeUndefined();
    expect(await cache.get('key-a', { signal: signal() })).toBeDefined();
    expect(await cache.get('key-c', { signal: signal() })).toBeDefined();
    expect(cache.size).toBe(2);
    expect(cache.sizeBytes).toBeLessThanOrEqual(cache.maxSizeBytes);
  });

  test('counts UTF-8 bytes, not characters', async () => {
    const ascii = sampleBundle('a');
    const wide = sampleBundle('a', '€'.repeat(1000));
    const cache = new LruCache();
    await cache.set('a', ascii, { signal: signal(), ttlMs: 0 });
    const asciiBytes = cache.sizeBytes;
    await cache.set('a', wide, { signal: signal(), ttlMs: 0 });
    const utf8 = Buffer.byteLength(JSON.stringify(wide)) - Buffer.byteLength(JSON.stringify(ascii));
    // Each € is 3 bytes in UTF-8 but 1 character: a character count would be 2,000 short.
    expect(utf8 - (JSON.stringify(wide).length - JSON.stringify(ascii).length)).toBe(2000);
    expect(cache.sizeBytes - asciiBytes).toBe(utf8);
  });

  test('refuses a bundle larger than the bound, and says so', async () => {
    const small = sampleBundle('small');
    // Room for the small bundle, not for the big one.
    const maxSizeBytes = Buffer.byteLength(JSON.stringify(small)) + 'key'.length + 1_000;
    const cache = new LruCache({ maxSizeBytes });
    await cache.set('key', small, { signal: signal(), ttlMs: 0 });
    expect(await cache.get('key', { signal: signal() })).toBeDefined();
    const error = await cache.set('key', sampleBundle('big', 'x'.repeat(5_000)), { signal: signal(), ttlMs: 0 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PTCError);
    expect((error as PTCError).code).toBe('CACHE_FAILED');
    expect((error as PTCError).message).toContain(`maxSizeBytes (${maxSizeBytes})`);
    // The older, smaller bundle is not left under the key as if the write had happened.
    expect(await cache.get('key', { signal: signal() })).toBeUndefined();
  });

  test('expires entries after ttlMs; 0 keeps them', async () => {
    const cache = new LruCache();
    await cache.set('short', sampleBundle('s'), { signal: signal(), ttlMs: 30 });
    await cache.set('forever', sampleBundle('f'), { signal: signal(), ttlMs: 0 });
    expect(await cache.get('short', { signal: signal() })).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(await cache.get('short', { signal: signal() })).toBeUndefined();
    expect(await cache.get('forever', { signal: signal() })).toBeDefined();
  });

  test('a stored entry is a copy: changing the bundle afterwards changes nothing stored', async () => {
    const cache = new LruCache();
    const bundle = sampleBundle('a');
    await cache.set('key', bundle, { signal: signal(), ttlMs: 0 });
    bundle.files[0]!.content = 'tampered';
    const stored = (await cache.get('key', { signal: signal() })) as typeof bundle;
    expect(stored.files[0]!.content).not.toBe('tampered');
    stored.status = 'failure';
    expect(((await cache.get('key', { signal: signal() })) as typeof bundle).status).toBe('success');
  });

  test('refuses bad options with a clear error', () => {
    expect(() => new LruCache({ maxSizeBytes: 0 })).toThrow(/maxSizeBytes/);
    expect(() => new LruCache({ maxSizeBytes: 1.5 })).toThrow(/maxSizeBytes/);
    expect(() => new LruCache({ maxSizeByte: 10 } as never)).toThrow(/maxSizeBytes/);
  });

  test('the agent has no cache by default (a repeated plan runs again); with cache: new LruCache() the repeat is a hit with no generation', async () => {
    const script = {
      files: [
        { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
        { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' as const },
      ],
    };
    const runner = new FakeSandboxRunner({ results: { passed: ['test_add'] } });
    const uncached = new ScriptedCodeGenerator(script);
    const byDefault = new PTCAgent({ generator: uncached, runner });
    expect((await byDefault.execute({ taskDescription: 'add two numbers' })).fromCache).toBe(false);
    expect((await byDefault.execute({ taskDescription: 'add two numbers' })).fromCache).toBe(false);
    expect(uncached.calls).toHaveLength(2);

    const generator = new ScriptedCodeGenerator(script);
    const agent = new PTCAgent({ generator, runner, cache: new LruCache() });
    const first = await agent.execute({ taskDescription: 'add two numbers' });
    const second = await agent.execute({ taskDescription: 'add two numbers' });
    expect(first.fromCache).toBe(false);
    expect(second.fromCache).toBe(true);
    expect(second.files).toEqual(first.files);
    expect(generator.calls).toHaveLength(1);
  });
});
