import { strict as assert } from 'node:assert';
import { createHash, randomUUID } from 'node:crypto';
import type { ArtifactBundle } from '../../bundle.js';
import type { Cache } from '../../contracts/cache.js';
import { isPTCError } from '../../errors.js';
import type { ConformanceTestFunction } from './types.js';

export interface CacheConformanceOptions {
  /** Per-case timeout handed to `test`, in ms. @default 10000 */
  caseTimeoutMs?: number;
  /** Prefix of every case name. @default 'Cache conformance' */
  name?: string;
  /**
   * Whether the cache honours `ttlMs`. A cache that never expires entries (allowed, if unusual)
   * sets this to false and skips the expiry case. @default true
   */
  expires?: boolean;
}

const signal = () => new AbortController().signal;

function file(path: string, content: string, kind: 'source' | 'test' = 'source') {
  return {
    path,
    content,
    kind,
    sha256: createHash('sha256').update(content).digest('hex'),
    bytes: Buffer.byteLength(content),
    acceptance: false,
  };
}

/**
 * A valid bundle with every field filled in (defaults included), so a cache that round-trips it
 * through JSON, and through the bundle schema on read, returns a deep-equal copy. `tag` makes
 * bundles distinguishable.
 */
export function sampleBundle(tag = 'sample', extraContent = ''): ArtifactBundle {
  const source = `def add(a, b):\n    return a + b  # ${tag}\n${extraContent}`;
  const test = 'from calc import add\n\ndef test_add():\n    assert add(2, 3) == 5\n';
  const usage = { inputTokens: 1200, outputTokens: 340, cacheCreationInputTokens: 0, cacheReadInputTokens: 800, apiCalls: 1, costUsd: 0.0123 };
  const testReport = {
    command: 'python -m pytest --junitxml=.ptc/junit.xml',
    exitCode: 0,
    passed: 1,
    failed: 0,
    skipped: 0,
    errored: 0,
    cases: [{ name: 'test_add', suite: 'test_calc', file: 'test_calc.py', status: 'passed' as const, durationMs: 1.5 }],
    success: true,
    stdout: '1 passed in 0.01s ✓',
    // Keyv's serializer marks Buffers as ':base64:…' strings; a look-alike must survive as text.
    stderr: ':base64:aGk= and :leading colon',
    stdoutTruncated: false,
    stderrTruncated: false,
    timedOut: false,
    durationMs: 412,
  };
  const files = [file('calc.py', source), file('test_calc.py', test, 'test')];
  return {
    executionId: `conformance-${tag}`,
    status: 'success',
    stopReason: 'tests_passed',
    files,
    testReport,
    bestIteration: 1,
    iterations: [
      {
        iteration: 1,
        files: files.map(({ path, sha256, bytes }) => ({ path, sha256, bytes })),
        usage,
        testReport,
        generationMs: 1500,
        testMs: 412,
      },
    ],
    usage,
    timings: {
      startedAt: '2026-11-23T10:00:00.000Z',
      endedAt: '2026-11-23T10:00:02.000Z',
      totalMs: 2000,
      queuedMs: 0,
      cacheMs: 1,
      sandboxOpenMs: 300,
      generationMs: 1500,
      testMs: 412,
    },
    fromCache: false,
    cacheKey: `ptc:v1:${tag}`,
    generator: 'scripted',
    language: 'python',
    sandbox: { runner: 'fake', id: 'sandbox-1' },
    warnings: [],
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Registers the cases every `Cache` must pass (keyv test-suite style): a miss is `undefined`,
 * bundles round-trip as deep-equal copies, overwrite, delete, TTL expiry (and `0` = no expiry),
 * key isolation, and an aborted signal that never hangs. Every case uses fresh random keys, so
 * the factory may return one shared cache (a Redis cache you disconnect after the suite).
 *
 * ```ts
 * import { test } from 'vitest';
 * import { cacheConformance } from 'ptc-agent/testing';
 * cacheConformance(test, () => new MyCache());
 * ```
 */
export function cacheConformance(
  test: ConformanceTestFunction,
  createCache: () => Cache | Promise<Cache>,
  options: CacheConformanceOptions = {},
): void {
  const timeoutMs = options.caseTimeoutMs ?? 10_000;
  const prefix = options.name ?? 'Cache conformance';
  const key = (label: string) => `conformance:${label}:${randomUUID()}`;

  test(`${prefix}: a missing key is undefined`, async () => {
    const cache = await createCache();
    assert.equal(await cache.get(key('missing'), { signal: signal() }), undefined);
  }, timeoutMs);

  test(`${prefix}: set then get returns an equal bundle`, async () => {
    const cache = await createCache();
    const k = key('roundtrip');
    const bundle = sampleBundle('roundtrip');
    await cache.set(k, bundle, { ttlMs: 60_000, signal: signal() });
    assert.deepStrictEqual(await cache.get(k, { signal: signal() }), sampleBundle('roundtrip'));
  }, timeoutMs);

  test(`${prefix}: a stored entry is a copy (later mutation of the bundle does not change it)`, async () => {
    const cache = await createCache();
    const k = key('copy');
    const bundle = sampleBundle('copy');
    await cache.set(k, bundle, { ttlMs: 60_000, signal: signal() });
    bundle.warnings.push('mutated after set');
    bundle.files[0]!.content = 'mutated';
    assert.deepStrictEqual(await cache.get(k, { signal: signal() }), sampleBundle('copy'));
  }, timeoutMs);

  test(`${prefix}: unicode and a large file round-trip`, async () => {
    const cache = await createCache();
    const k = key('large');
    const big = `# ünïcödé ✓ 日本語 🚀 ":colon" \\ "quotes"\n${'x = 1\n'.repeat(150_000)}`;
    await cache.set(k, sampleBundle('large', big), { ttlMs: 60_000, signal: signal() });
    assert.deepStrictEqual(await cache.get(k, { signal: signal() }), sampleBundle('large', big));
  }, timeoutMs);

  test(`${prefix}: set overwrites`, async () => {
    const cache = await createCache();
    const k = key('overwrite');
    await cache.set(k, sampleBundle('first'), { ttlMs: 60_000, signal: signal() });
    await cache.set(k, sampleBundle('second'), { ttlMs: 60_000, signal: signal() });
    assert.deepStrictEqual(await cache.get(k, { signal: signal() }), sampleBundle('second'));
  }, timeoutMs);

  test(`${prefix}: delete removes the entry; deleting a missing key resolves`, async () => {
    const cache = await createCache();
    const k = key('delete');
    await cache.set(k, sampleBundle('delete'), { ttlMs: 60_000, signal: signal() });
    await cache.delete(k, { signal: signal() });
    assert.equal(await cache.get(k, { signal: signal() }), undefined);
    await cache.delete(k, { signal: signal() });
    await cache.delete(key('never-set'), { signal: signal() });
  }, timeoutMs);

  test(`${prefix}: keys are isolated`, async () => {
    const cache = await createCache();
    const first = key('isolated-a');
    const second = key('isolated-b');
    await cache.set(first, sampleBundle('a'), { ttlMs: 60_000, signal: signal() });
    await cache.set(second, sampleBundle('b'), { ttlMs: 60_000, signal: signal() });
    assert.deepStrictEqual(await cache.get(first, { signal: signal() }), sampleBundle('a'));
    assert.deepStrictEqual(await cache.get(second, { signal: signal() }), sampleBundle('b'));
    await cache.delete(first, { signal: signal() });
    assert.equal(await cache.get(first, { signal: signal() }), undefined);
    assert.deepStrictEqual(await cache.get(second, { signal: signal() }), sampleBundle('b'));
  }, timeoutMs);

  if (options.expires ?? true) {
    test(`${prefix}: an entry expires after ttlMs`, async () => {
      const cache = await createCache();
      const k = key('ttl');
      await cache.set(k, sampleBundle('ttl'), { ttlMs: 50, signal: signal() });
      await sleep(150);
      assert.equal(await cache.get(k, { signal: signal() }), undefined);
    }, timeoutMs);
  }

  test(`${prefix}: ttlMs 0 means no expiry`, async () => {
    const cache = await createCache();
    const k = key('no-expiry');
    await cache.set(k, sampleBundle('no-expiry'), { ttlMs: 0, signal: signal() });
    await sleep(100);
    assert.deepStrictEqual(await cache.get(k, { signal: signal() }), sampleBundle('no-expiry'));
    await cache.delete(k, { signal: signal() });
  }, timeoutMs);

  test(`${prefix}: an aborted signal never hangs (a miss or an ABORTED/TIMEOUT rejection)`, async () => {
    const cache = await createCache();
    const k = key('aborted');
    await cache.set(k, sampleBundle('aborted'), { ttlMs: 60_000, signal: signal() });
    const controller = new AbortController();
    controller.abort();
    const abortedError = (error: unknown) => isPTCError(error) && (error.code === 'ABORTED' || error.code === 'TIMEOUT');
    try {
      const value = await cache.get(k, { signal: controller.signal });
      // Answering from memory before looking at the signal is allowed; anything else is not.
      if (value !== undefined) assert.deepStrictEqual(value, sampleBundle('aborted'));
    } catch (error) {
      assert.ok(abortedError(error), `get with an aborted signal rejected with ${String(error)}`);
    }
    for (const call of [
      () => cache.set(key('aborted-set'), sampleBundle('x'), { ttlMs: 60_000, signal: controller.signal }),
      () => cache.delete(k, { signal: controller.signal }),
    ]) {
      try {
        await call();
      } catch (error) {
        assert.ok(abortedError(error), `an aborted call rejected with ${String(error)}`);
      }
    }
  }, timeoutMs);

  test(`${prefix}: concurrent sets and gets of different keys do not mix`, async () => {
    const cache = await createCache();
    const keys = Array.from({ length: 20 }, (_, index) => key(`concurrent-${index}`));
    await Promise.all(keys.map((k, index) => cache.set(k, sampleBundle(`c${index}`), { ttlMs: 60_000, signal: signal() })));
    const values = await Promise.all(keys.map((k) => cache.get(k, { signal: signal() })));
    values.forEach((value, index) => assert.deepStrictEqual(value, sampleBundle(`c${index}`)));
  }, timeoutMs);

  test(`${prefix}: a cache that says it is in process (inProcess) settles every call before any I/O`, async () => {
    const cache = await createCache();
    assert.ok(cache.inProcess === undefined || typeof cache.inProcess === 'boolean', `inProcess must be a boolean, got ${typeof cache.inProcess}`);
    // The agent drops its per-call timeout for such a cache: a call that waited on I/O or a timer
    // could then hold a run until its deadline.
    if (cache.inProcess !== true) return;
    const k = key('in-process');
    const beforeIo = async (call: Promise<unknown>, what: string) => {
      const first = await Promise.race([call.then(() => 'settled'), new Promise((resolve) => setImmediate(() => resolve('I/O')))]);
      assert.equal(first, 'settled', `${what} did not settle before the event loop reached I/O`);
    };
    await beforeIo(cache.set(k, sampleBundle('in-process'), { ttlMs: 60_000, signal: signal() }), 'set');
    await beforeIo(cache.get(k, { signal: signal() }), 'get');
    await beforeIo(cache.delete(k, { signal: signal() }), 'delete');
  }, timeoutMs);
}
