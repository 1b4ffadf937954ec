import { createClient, type RedisClientType } from '@keyv/redis';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRedisCheckpointStore, type CheckpointStoreWarning, type RedisCheckpointStore } from '../../src/caches/redis.js';
import type { CheckpointState } from '../../src/checkpoint-state.js';
import { PTCError } from '../../src/errors.js';
import { PTCAgent } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { BUGGY, FIXED, PLAN, expectValidBundle, judgeCalc } from '../helpers.js';
import { BAD_REDIS_CONNECTION_OPTIONS, freePort, RedisServer, redisSkipReason, runScriptInChild } from '../helpers/redis-server.js';

const signal = () => new AbortController().signal;
const skipped = redisSkipReason === undefined ? '' : ` (SKIPPED: ${redisSkipReason})`;

/** The store does not read what it keeps: any JSON stands in for a run's state here. */
function sampleState(label: string): CheckpointState {
  return { version: 1, label, nested: { list: [1, 'two', null], text: ':colon first' } } as unknown as CheckpointState;
}

async function rawClient(url: string): Promise<RedisClientType> {
  const client = createClient({ url }) as RedisClientType;
  client.on('error', () => {});
  await client.connect();
  return client;
}

function warningLog() {
  const warnings: CheckpointStoreWarning[] = [];
  return { warnings, onWarning: (warning: CheckpointStoreWarning) => warnings.push(warning), text: () => JSON.stringify(warnings) };
}

/** Retries `probe` until it returns true: for "expired" and "works again", without timing assertions. */
async function eventually(probe: () => Promise<boolean>, attempts = 100, pauseMs = 50): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt += 1) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return false;
}

describe.skipIf(redisSkipReason !== undefined)(`RedisCheckpointStore on a real redis-server${skipped}`, () => {
  let server: RedisServer;
  let store: RedisCheckpointStore;
  let raw: RedisClientType;
  const namespace = `test-${randomUUID()}`;
  const log = warningLog();

  beforeAll(async () => {
    server = await RedisServer.start();
    store = createRedisCheckpointStore(server.url, { namespace, onWarning: log.onWarning });
    raw = await rawClient(server.url);
  }, 30_000);

  afterAll(async () => {
    await raw?.close();
    await store?.disconnect();
    await server?.stop();
  });

  test('save, load and delete round-trip; the key is <namespace>:checkpoint:<execution id>, a Keyv entry', async () => {
    expect(await store.load('round-trip', { signal: signal() })).toBeUndefined();
    await store.save('round-trip', sampleState('first'), { signal: signal() });
    expect(await store.load('round-trip', { signal: signal() })).toEqual(sampleState('first'));
    await store.save('round-trip', sampleState('second'), { signal: signal() });
    expect(await store.load('round-trip', { signal: signal() })).toEqual(sampleState('second'));

    expect(store.prefix).toBe(`${namespace}:checkpoint:`);
    const stored = await raw.get(`${namespace}:checkpoint:round-trip`);
    expect(JSON.parse(stored!)).toMatchObject({ value: { label: 'second' } });

    await store.delete('round-trip', { signal: signal() });
    expect(await raw.exists(`${namespace}:checkpoint:round-trip`)).toBe(0);
    expect(await store.load('round-trip', { signal: signal() })).toBeUndefined();
    // Deleting what is not there is not an error.
    await store.delete('round-trip', { signal: signal() });
  });

  test('ttlMs becomes a PX expiry, 0 or none means no expiry, and an expired checkpoint loads as undefined', async () => {
    await store.save('ttl-minute', sampleState('minute'), { signal: signal(), ttlMs: 60_000 });
    const ttl = await raw.pTTL(`${namespace}:checkpoint:ttl-minute`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await store.save('ttl-zero', sampleState('zero'), { signal: signal(), ttlMs: 0 });
    expect(await raw.pTTL(`${namespace}:checkpoint:ttl-zero`)).toBe(-1);
    await store.save('ttl-none', sampleState('none'), { signal: signal() });
    expect(await raw.pTTL(`${namespace}:checkpoint:ttl-none`)).toBe(-1);

    await store.save('ttl-short', sampleState('short'), { signal: signal(), ttlMs: 50 });
    expect(await eventually(async () => (await store.load('ttl-short', { signal: signal() })) === undefined)).toBe(true);
    expect(await raw.exists(`${namespace}:checkpoint:ttl-short`)).toBe(0);
  });

  test('an aborted signal rejects with the abort, not a store error', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(store.load('aborted', { signal: controller.signal })).rejects.toMatchObject({ code: 'ABORTED' });
  });

  test('a run cancelled in one agent resumes in another process-like agent, with only the missing generation', async () => {
    const other = createRedisCheckpointStore(server.url, { namespace });
    try {
      const controller = new AbortController();
      const crashing = new ScriptedCodeGenerator((request) => {
        if (request.iteration === 2) controller.abort();
        return { files: BUGGY };
      });
      const a = new PTCAgent({ generator: crashing, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: store, cache: false });
      expect((await a.execute({ ...PLAN, executionId: 'redis-store-run' }, { signal: controller.signal })).status).toBe('cancelled');
      await a.close();
      expect(await raw.exists(`${namespace}:checkpoint:redis-store-run`)).toBe(1);

      const generator = new ScriptedCodeGenerator({ files: FIXED });
      const b = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: other, cache: false });
      const bundle = await b.resume('redis-store-run');
      expect(generator.calls.map((call) => call.iteration)).toEqual([2]);
      expect(bundle.status).toBe('success');
      expectValidBundle(bundle);
      expect(await raw.exists(`${namespace}:checkpoint:redis-store-run`)).toBe(0);
      await b.close();
    } finally {
      await other.disconnect();
    }
  });

  test('an injected client is used and never closed by disconnect()', async () => {
    const client = await rawClient(server.url);
    const injected = createRedisCheckpointStore(client, { namespace });
    await injected.save('injected', sampleState('injected'), { signal: signal() });
    expect(await store.load('injected', { signal: signal() })).toEqual(sampleState('injected'));
    await injected.disconnect();
    expect(client.isOpen).toBe(true);
    expect(await client.ping()).toBe('PONG');
    await client.close();
  });

  test('the healthy store reported no warnings', () => {
    expect(log.warnings).toEqual([]);
  });
});

describe.skipIf(redisSkipReason !== undefined)(`RedisCheckpointStore faults${skipped}`, () => {
  test('a dead Redis (a closed port): every call rejects with CHECKPOINT_FAILED from the refused connection, not by waiting out the timeout; disconnect() resolves', async () => {
    const log = warningLog();
    // A long timeout: a call that waited for it would fail the test by its own timeout instead.
    const store = createRedisCheckpointStore(`redis://127.0.0.1:${await freePort()}`, { onWarning: log.onWarning, operationTimeoutMs: 60_000 });
    const errors = [
      await store.load('dead', { signal: signal() }).catch((error: unknown) => error),
      await store.save('dead', sampleState('dead'), { signal: signal(), ttlMs: 1_000 }).catch((error: unknown) => error),
      await store.delete('dead', { signal: signal() }).catch((error: unknown) => error),
    ];
    for (const error of errors) {
      expect(error).toBeInstanceOf(PTCError);
      expect(error).toMatchObject({ code: 'CHECKPOINT_FAILED' });
      expect((error as Error).message).toMatch(/^Checkpoint (load|save|delete) failed: Redis at redis:\/\/127\.0\.0\.1:\d+ is unavailable/);
      expect((error as Error).message).not.toMatch(/timed out/);
    }
    expect(JSON.stringify(errors.map((error) => (error as Error).message))).toMatch(/ECONNREFUSED/);
    await store.disconnect();
    expect(store.client.isOpen).toBe(false);
    await expect(store.load('dead', { signal: signal() })).rejects.toThrow(/the checkpoint store was disconnected/);
  });

  test('Redis killed after use (where @keyv/redis defaults hang both calls and disconnect): calls reject without waiting out the timeout, disconnect() resolves', async () => {
    const server = await RedisServer.start();
    const store = createRedisCheckpointStore(server.url, { operationTimeoutMs: 60_000 });
    try {
      await store.save('killed', sampleState('killed'), { signal: signal() });
      await server.kill();
      for (const call of [() => store.load('killed', { signal: signal() }), () => store.save('killed', sampleState('x'), { signal: signal() }), () => store.delete('killed', { signal: signal() })]) {
        const error = await call().then(() => undefined, (caught: unknown) => caught as Error);
        expect(error).toMatchObject({ code: 'CHECKPOINT_FAILED' });
        expect(error!.message).not.toMatch(/timed out/);
      }
      await store.disconnect();
      expect(store.client.isOpen).toBe(false);
    } finally {
      await store.disconnect();
      await server.stop();
    }
  });

  test('a frozen Redis (SIGSTOP): each call ends at operationTimeoutMs, disconnect() resolves, a new store works once resumed', async () => {
    const server = await RedisServer.start();
    const store = createRedisCheckpointStore(server.url, { operationTimeoutMs: 200 });
    try {
      await store.save('frozen', sampleState('frozen'), { signal: signal() });
      server.pause();
      await expect(store.load('frozen', { signal: signal() })).rejects.toThrow(/timed out after 200 ms/);
      await expect(store.save('frozen', sampleState('later'), { signal: signal() })).rejects.toMatchObject({ code: 'CHECKPOINT_FAILED' });
      // The connection is still open with commands pending: close gives up on them and drops the socket.
      await store.disconnect();
      expect(store.client.isOpen).toBe(false);
      server.resume();
      const fresh = createRedisCheckpointStore(server.url);
      // The timed-out save had already been sent: a frozen Redis may still apply it when it wakes.
      const label = ((await fresh.load('frozen', { signal: signal() })) as { label: string }).label;
      expect(['frozen', 'later']).toContain(label);
      await fresh.disconnect();
    } finally {
      server.resume();
      await store.disconnect();
      await server.stop();
    }
  });

  test('the URL password never appears in errors, their causes or warnings', async () => {
    const password = 'hunter2-Sup3r-Secret-Passw0rd';
    const server = await RedisServer.start({ extraArgs: ['--requirepass', 'the-right-one'] });
    const log = warningLog();
    const wrong = createRedisCheckpointStore(`redis://default:${password}@127.0.0.1:${server.port}`, { onWarning: log.onWarning });
    const down = createRedisCheckpointStore(`redis://:${encodeURIComponent(password)}@127.0.0.1:${await freePort()}`, { onWarning: log.onWarning });
    try {
      const errors: unknown[] = [];
      for (const store of [wrong, down]) {
        errors.push(await store.load('k', { signal: signal() }).catch((error: unknown) => error));
        errors.push(await store.save('k', sampleState('k'), { signal: signal() }).catch((error: unknown) => error));
      }
      const messages = errors.map((error) => `${(error as Error).message} / ${String(((error as Error).cause as Error | undefined)?.message)}`).join('\n');
      expect(messages).toMatch(/WRONGPASS|invalid/i);
      expect(messages).toMatch(/ECONNREFUSED/);
      expect(messages).toContain('***');
      expect(messages).not.toContain(password);
      expect(log.text()).not.toContain(password);
      for (const error of errors) expect(error).toMatchObject({ code: 'CHECKPOINT_FAILED' });

      const right = createRedisCheckpointStore(`redis://default:the-right-one@127.0.0.1:${server.port}`);
      await right.save('auth', sampleState('auth'), { signal: signal() });
      expect(await right.load('auth', { signal: signal() })).toEqual(sampleState('auth'));
      await right.disconnect();
    } finally {
      await wrong.disconnect();
      await down.disconnect();
      await server.stop();
    }
  });

  test('a process that used the store against a dead Redis exits after disconnect (no timer or socket keeps it alive)', async () => {
    const script = `
      import { createRedisCheckpointStore } from './src/caches/redis.ts';
      const store = createRedisCheckpointStore('redis://127.0.0.1:${await freePort()}', { connectTimeoutMs: 5000 });
      const signal = new AbortController().signal;
      await store.load('k', { signal }).catch(() => {});
      await store.save('k', {}, { signal, ttlMs: 1000 }).catch(() => {});
      await store.delete('k', { signal }).catch(() => {});
      await store.disconnect();
      await new Promise((resolve) => setImmediate(resolve));
      console.log('timers left: ' + process.getActiveResourcesInfo().filter((name) => name === 'Timeout').length);
    `;
    const { output, code } = await runScriptInChild(script);
    expect(output).toContain('timers left: 0');
    expect(code).toBe(0);
  }, 30_000);
});

describe('createRedisCheckpointStore options', () => {
  test.each([
    ...BAD_REDIS_CONNECTION_OPTIONS,
    ['redis://127.0.0.1:6379', { prefix: 'x:' }, /prefix/] as const,
  ])('%s with %o throws a TypeError naming the problem', (url, options, problem) => {
    expect(() => createRedisCheckpointStore(url, options as never)).toThrow(TypeError);
    expect(() => createRedisCheckpointStore(url, options as never)).toThrow(problem);
  });

  test('neither a URL nor a client is a TypeError', () => {
    expect(() => createRedisCheckpointStore({} as never)).toThrow(/createRedisCheckpointStore needs a redis:\/\/ URL or a node-redis client/);
  });

  test('a URL with a password that does not parse is not echoed in the error', () => {
    expect(() => createRedisCheckpointStore('redis://user:pa ss word@[bad')).toThrow(/^(?!.*pa ss word).*$/);
    expect(() => createRedisCheckpointStore('redis://:pa%ss-word-123@127.0.0.1:1/0')).toThrow(/^(?!.*pa%ss-word-123)url /);
  });

  test('creating a store does no I/O (nothing listens on the port; no call, no connection)', async () => {
    const store = createRedisCheckpointStore('redis://127.0.0.1:1');
    expect(store.client.isOpen).toBe(false);
    await store.disconnect();
  });
});
