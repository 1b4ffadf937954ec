import { defaultSerialize } from '@keyv/serialize';
import { createClient, type RedisClientType } from '@keyv/redis';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { CacheWarning } from '../../src/caches/keyv.js';
import { createRedisCache, type RedisCache } from '../../src/caches/redis.js';
import { CACHE_FORMAT_VERSION } from '../../src/cache-key.js';
import { PTCError } from '../../src/errors.js';
import { cacheConformance, sampleBundle } from '../../src/testing/conformance/cache.js';
import { BAD_REDIS_CONNECTION_OPTIONS, freePort, RedisServer, redisSkipReason, runScriptInChild } from '../helpers/redis-server.js';

const signal = () => new AbortController().signal;
const skipped = redisSkipReason === undefined ? '' : ` (SKIPPED: ${redisSkipReason})`;

/** Collects warnings; `text()` is everything reported, for "no secret anywhere" checks. */
function warningLog() {
  const warnings: CacheWarning[] = [];
  return { warnings, onWarning: (warning: CacheWarning) => warnings.push(warning), text: () => JSON.stringify(warnings) };
}

async function rawClient(url: string): Promise<RedisClientType> {
  const client = createClient({ url }) as RedisClientType;
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** Retries `probe` until it returns true: for "works again after a restart", without timing assertions. */
async function eventually(probe: () => Promise<boolean>, attempts = 100, pauseMs = 100): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return false;
}

describe.skipIf(redisSkipReason !== undefined)(`RedisCache on a real redis-server${skipped}`, () => {
  let server: RedisServer;
  let cache: RedisCache;
  let raw: RedisClientType;
  const namespace = `test-${randomUUID()}`;
  const log = warningLog();

  beforeAll(async () => {
    server = await RedisServer.start();
    cache = createRedisCache(server.url, { namespace, onWarning: log.onWarning });
    raw = await rawClient(server.url);
  });

  afterAll(async () => {
    await raw?.close();
    await cache?.disconnect();
    await server?.stop();
  });

  cacheConformance(test, () => cache, { name: 'RedisCache conformance' });

  test('entries live at <namespace>::<key> as a format-versioned envelope with a PX expiry', async () => {
    await cache.set('ptc:v1:layout', sampleBundle('layout'), { ttlMs: 60_000, signal: signal() });
    const stored = await raw.get(`${namespace}::ptc:v1:layout`);
    expect(stored).toBeTypeOf('string');
    const parsed = JSON.parse(stored!) as { value: { format: number; storedAt: string; bundle: { executionId: string } } };
    expect(parsed.value.format).toBe(CACHE_FORMAT_VERSION);
    expect(parsed.value.bundle.executionId).toBe('conformance-layout');
    const ttl = await raw.pTTL(`${namespace}::ptc:v1:layout`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await cache.set('ptc:v1:forever', sampleBundle('forever'), { ttlMs: 0, signal: signal() });
    expect(await raw.pTTL(`${namespace}::ptc:v1:forever`)).toBe(-1);
  });

  test('another namespace on the same Redis does not see the entries', async () => {
    const other = createRedisCache(server.url, { namespace: `${namespace}-other` });
    try {
      await cache.set('ptc:v1:shared-key', sampleBundle('mine'), { ttlMs: 60_000, signal: signal() });
      expect(await other.get('ptc:v1:shared-key', { signal: signal() })).toBeUndefined();
    } finally {
      await other.disconnect();
    }
  });

  const corrupt: Array<[string, string, RegExp]> = [
    ['bytes that are not JSON', '\u0000\u00ff garbage {', /not JSON/],
    ['JSON from another program', JSON.stringify({ user: 'alice', visits: 3 }), /not a Keyv entry|not a ptc-agent cache entry/],
    ['an entry of an older format', JSON.stringify({ value: { format: 0, storedAt: 'x', bundle: {} } }), /format 0/],
    ['a bundle that fails the schema', JSON.stringify({ value: { format: CACHE_FORMAT_VERSION, storedAt: 'x', bundle: { executionId: 'x' } } }), /invalid bundle/],
  ];

  test.each(corrupt)('%s planted with a raw client is a miss plus a warning, and is then overwritten', async (_label, value, problem) => {
    const key = `ptc:v1:corrupt-${randomUUID()}`;
    await raw.set(`${namespace}::${key}`, value);
    const before = log.warnings.length;
    expect(await cache.get(key, { signal: signal() })).toBeUndefined();
    const added = log.warnings.slice(before);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ code: 'CACHE_ENTRY_INVALID', key });
    expect(added[0]!.message).toMatch(problem);
    await cache.set(key, sampleBundle('repaired'), { ttlMs: 60_000, signal: signal() });
    expect(await cache.get(key, { signal: signal() })).toEqual(sampleBundle('repaired'));
  });

  test('a valid entry written by another client (Keyv wire format) is a hit', async () => {
    const key = `ptc:v1:foreign-writer-${randomUUID()}`;
    const entry = { value: { format: CACHE_FORMAT_VERSION, storedAt: new Date().toISOString(), bundle: sampleBundle('other-writer') } };
    await raw.set(`${namespace}::${key}`, defaultSerialize(entry));
    expect(await cache.get(key, { signal: signal() })).toEqual(sampleBundle('other-writer'));
  });

  test('an injected client is used and never closed by disconnect()', async () => {
    const client = await rawClient(server.url);
    const injected = createRedisCache(client, { namespace });
    await injected.set('ptc:v1:injected', sampleBundle('injected'), { ttlMs: 60_000, signal: signal() });
    expect(await cache.get('ptc:v1:injected', { signal: signal() })).toEqual(sampleBundle('injected'));
    await injected.disconnect();
    expect(client.isOpen).toBe(true);
    expect(await client.ping()).toBe('PONG');
    await client.close();
  });

  test('no warnings were reported by the healthy cache except for the planted entries', () => {
    expect(log.warnings.filter((warning) => warning.code !== 'CACHE_ENTRY_INVALID')).toEqual([]);
  });
});

describe.skipIf(redisSkipReason !== undefined)(`RedisCache faults${skipped}`, () => {
  test('Redis down at start: get is a miss, set and delete reject with CACHE_FAILED, nothing hangs', async () => {
    const log = warningLog();
    const cache = createRedisCache(`redis://127.0.0.1:${await freePort()}`, { onWarning: log.onWarning, operationTimeoutMs: 2_000 });
    try {
      expect(await cache.get('ptc:v1:k', { signal: signal() })).toBeUndefined();
      await expect(cache.set('ptc:v1:k', sampleBundle(), { ttlMs: 1_000, signal: signal() })).rejects.toMatchObject({ code: 'CACHE_FAILED' });
      await expect(cache.delete('ptc:v1:k', { signal: signal() })).rejects.toBeInstanceOf(PTCError);
      expect(log.warnings.length).toBeGreaterThan(0);
      expect(log.warnings.every((warning) => warning.code === 'CACHE_UNAVAILABLE')).toBe(true);
      expect(log.text()).toMatch(/ECONNREFUSED/);
    } finally {
      await cache.disconnect();
    }
  });

  test('a password that is not valid percent-encoding is a TypeError naming the url, without the password', () => {
    expect(() => createRedisCache('redis://:pa%ss-word-123@127.0.0.1:1/0')).toThrow(TypeError);
    try {
      createRedisCache('redis://:pa%ss-word-123@127.0.0.1:1/0');
    } catch (error) {
      expect((error as Error).message).toMatch(/^url /);
      expect((error as Error).message).not.toContain('pa%ss-word-123');
    }
  });

  test('the URL password never appears in warnings or errors', async () => {
    const password = 'hunter2-Sup3r-Secret-Passw0rd';
    const server = await RedisServer.start({ extraArgs: ['--requirepass', 'the-right-one'] });
    const log = warningLog();
    const wrong = createRedisCache(`redis://default:${password}@127.0.0.1:${server.port}`, { onWarning: log.onWarning });
    const down = createRedisCache(`redis://:${encodeURIComponent(password)}@127.0.0.1:${await freePort()}`, { onWarning: log.onWarning });
    try {
      const errors: unknown[] = [];
      for (const cache of [wrong, down]) {
        expect(await cache.get('ptc:v1:k', { signal: signal() })).toBeUndefined();
        errors.push(await cache.set('ptc:v1:k', sampleBundle(), { ttlMs: 1_000, signal: signal() }).catch((error: unknown) => error));
      }
      expect(log.text()).toMatch(/WRONGPASS|invalid/i);
      expect(log.text()).toMatch(/ECONNREFUSED/);
      expect(log.text()).not.toContain(password);
      expect(log.text()).toContain('***');
      for (const error of errors) {
        expect(error).toBeInstanceOf(PTCError);
        expect(String((error as Error).message)).not.toContain(password);
        expect(String(((error as Error).cause as Error | undefined)?.message)).not.toContain(password);
      }
      const right = createRedisCache(`redis://default:the-right-one@127.0.0.1:${server.port}`);
      await right.set('ptc:v1:auth', sampleBundle('auth'), { ttlMs: 1_000, signal: signal() });
      expect(await right.get('ptc:v1:auth', { signal: signal() })).toEqual(sampleBundle('auth'));
      await right.disconnect();
    } finally {
      await wrong.disconnect();
      await down.disconnect();
      await server.stop();
    }
  });

  test('Redis killed mid-run: calls fail fast, then the cache works again after a restart', async () => {
    const server = await RedisServer.start();
    const log = warningLog();
    const cache = createRedisCache(server.url, { onWarning: log.onWarning, retryIntervalMs: 100 });
    try {
      await cache.set('ptc:v1:before', sampleBundle('before'), { ttlMs: 60_000, signal: signal() });
      expect(await cache.get('ptc:v1:before', { signal: signal() })).toEqual(sampleBundle('before'));

      await server.kill();
      expect(await cache.get('ptc:v1:before', { signal: signal() })).toBeUndefined();
      await expect(cache.set('ptc:v1:during', sampleBundle(), { ttlMs: 1_000, signal: signal() })).rejects.toMatchObject({ code: 'CACHE_FAILED' });
      expect(log.text()).toMatch(/Socket closed unexpectedly|ECONNREFUSED|lost|unavailable/);

      // The killed server kept nothing (--save ''), so "works again" means a fresh write round-trips.
      await server.start();
      const recovered = await eventually(async () => {
        try {
          await cache.set('ptc:v1:after', sampleBundle('after'), { ttlMs: 60_000, signal: signal() });
          return true;
        } catch {
          return false;
        }
      });
      expect(recovered).toBe(true);
      expect(await cache.get('ptc:v1:after', { signal: signal() })).toEqual(sampleBundle('after'));
    } finally {
      await cache.disconnect();
      await server.stop();
    }
  });

  test('a frozen Redis (SIGSTOP): each call ends at operationTimeoutMs; it recovers when resumed', async () => {
    const server = await RedisServer.start();
    const log = warningLog();
    const cache = createRedisCache(server.url, { onWarning: log.onWarning, operationTimeoutMs: 200 });
    try {
      await cache.set('ptc:v1:frozen', sampleBundle('frozen'), { ttlMs: 60_000, signal: signal() });
      server.pause();
      expect(await cache.get('ptc:v1:frozen', { signal: signal() })).toBeUndefined();
      await expect(cache.set('ptc:v1:frozen', sampleBundle(), { ttlMs: 1_000, signal: signal() })).rejects.toMatchObject({ code: 'CACHE_FAILED' });
      expect(log.text()).toContain('timed out after 200 ms');
      server.resume();
      expect(await eventually(async () => (await cache.get('ptc:v1:frozen', { signal: signal() })) !== undefined)).toBe(true);
    } finally {
      server.resume();
      await cache.disconnect();
      await server.stop();
    }
  });

  test('after disconnect() calls fail fast without reconnecting; disconnect is idempotent', async () => {
    const server = await RedisServer.start();
    const cache = createRedisCache(server.url);
    try {
      await cache.set('ptc:v1:k', sampleBundle(), { ttlMs: 1_000, signal: signal() });
      await cache.disconnect();
      await cache.disconnect();
      expect(cache.client.isOpen).toBe(false);
      expect(await cache.get('ptc:v1:k', { signal: signal() })).toBeUndefined();
      await expect(cache.set('ptc:v1:k', sampleBundle(), { ttlMs: 1_000, signal: signal() })).rejects.toThrow(/disconnected/);
      expect(cache.client.isOpen).toBe(false);
    } finally {
      await server.stop();
    }
  });

  test('a process that used a cache against a dead Redis exits after disconnect (no timer keeps it alive)', async () => {
    const script = `
      import { createRedisCache } from './src/caches/redis.ts';
      const cache = createRedisCache('redis://127.0.0.1:${await freePort()}', { connectTimeoutMs: 5000 });
      const signal = new AbortController().signal;
      await cache.get('k', { signal });
      await cache.set('k', {}, { ttlMs: 1000, signal }).catch(() => {});
      await cache.disconnect();
      await new Promise((resolve) => setImmediate(resolve));
      console.log('timers left: ' + process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length);
    `;
    const { output, code } = await runScriptInChild(script);
    // @keyv/redis's own connectionTimeout timer is not unref'd (keyv #2070): none may be left.
    expect(output).toContain('timers left: 0');
    expect(code).toBe(0);
  }, 30_000);
});

describe('createRedisCache options', () => {
  test.each(BAD_REDIS_CONNECTION_OPTIONS)('%s with %o throws a TypeError naming the problem', (url, options, problem) => {
    expect(() => createRedisCache(url, options as never)).toThrow(TypeError);
    expect(() => createRedisCache(url, options as never)).toThrow(problem);
  });

  test('an invalid URL with a password is not echoed in the error', () => {
    expect(() => createRedisCache('redis://user:pa ss word@[bad')).toThrow(/^(?!.*pa ss word).*$/);
  });

  test('creating a cache does no I/O (nothing listens on the port; no call, no connection)', () => {
    const cache = createRedisCache('redis://127.0.0.1:1');
    expect(cache.client.isOpen).toBe(false);
  });
});
