import { createKeyv } from '@keyv/redis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { KeyvCheckpointStore, PTCAgent } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { RedisServer, redisSkipReason } from '../helpers/redis-server.js';
import { BUGGY, FIXED, PLAN, expectValidBundle, judgeCalc } from '../helpers.js';

describe.skipIf(redisSkipReason !== undefined)(`KeyvCheckpointStore on a real Redis${redisSkipReason ? ` (SKIPPED: ${redisSkipReason})` : ''}`, () => {
  let redis: RedisServer | undefined;
  beforeAll(async () => {
    redis = await RedisServer.start();
  }, 30_000);
  afterAll(async () => {
    await redis?.stop();
  });

  test('a run cancelled in one agent resumes in another through Redis, with only the missing generation', async () => {
    // Two Keyv clients, as two processes would have.
    const first = createKeyv(redis!.url);
    const second = createKeyv(redis!.url);
    try {
      const controller = new AbortController();
      const crashing = new ScriptedCodeGenerator((request) => {
        if (request.iteration === 2) controller.abort();
        return { files: BUGGY };
      });
      const a = new PTCAgent({ generator: crashing, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: new KeyvCheckpointStore({ keyv: first }), cache: false });
      expect((await a.execute({ ...PLAN, executionId: 'redis-run' }, { signal: controller.signal })).status).toBe('cancelled');
      await a.close();

      const generator = new ScriptedCodeGenerator({ files: FIXED });
      const store = new KeyvCheckpointStore({ keyv: second });
      const b = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: store, cache: false });
      const bundle = await b.resume('redis-run');
      expect(generator.calls.map((call) => call.iteration)).toEqual([2]);
      expect(bundle.status).toBe('success');
      expect(bundle.usage.apiCalls).toBe(2);
      expectValidBundle(bundle);
      expect(await store.load('redis-run', { signal: new AbortController().signal })).toBeUndefined();
      await b.close();
    } finally {
      await Promise.allSettled([first.disconnect(), second.disconnect()]);
    }
  });
});
