/**
 * Scale-out for real: a redis-server, two worker processes (node --import tsx worker.ts) with
 * the scripted generator and the local runner (real pytest), and the producer in this process.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RedisServer, redisSkipReason } from '../../test/helpers/redis-server.js';
import { PlanProducer, type SubmittedPlan } from './producer.js';
import { spawnWorker, stopWorker, waitFor, type WorkerProcess } from './test-support.js';

const QUEUE = `ptc-test-${process.pid}`;
const PLANS = [1, 2, 3, 4].map((variant) => ({
  execution_id: `calc-${variant}`,
  scaffolding: { task_description: `Build a simple calculator CLI (variant ${variant})`, requirements: ['Add, subtract, multiply, divide operations'] },
  timeout_seconds: 120,
}));

/** The offline defaults: the scripted generator (with a little latency) and the local runner. */
function startWorkerProcess(redisUrl: string): WorkerProcess {
  return spawnWorker({ REDIS_URL: redisUrl, PTC_QUEUE: QUEUE, PTC_WORKER_CONCURRENCY: '1', PTC_SCRIPT_LATENCY_MS: '200' });
}

describe.skipIf(redisSkipReason !== undefined)(`queue workers on a real Redis${redisSkipReason ? ` (SKIPPED: ${redisSkipReason})` : ''}`, () => {
  let redis: RedisServer | undefined;
  let producer: PlanProducer | undefined;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    workers.push(startWorkerProcess(redis.url), startWorkerProcess(redis.url));
    producer = new PlanProducer({ redisUrl: redis.url, queueName: QUEUE, resultTimeoutMs: 60_000 });
    await producer.ready();
    await waitFor('both workers to be ready', () => workers.every((worker) => worker.events.some((event) => event.event === 'ready')), workers);
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled(workers.map(stopWorker));
    await producer?.close();
    await redis?.stop();
  }, 30_000);

  test('two workers complete every plan exactly once; a duplicate plan is a cache hit', { timeout: 60_000 }, async () => {
    const completions = new Map<string, number>();
    producer!.events.on('completed', ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));

    const results: SubmittedPlan[] = await Promise.all(PLANS.map((plan) => producer!.submit(plan)));
    for (const [index, { jobId, result }] of results.entries()) {
      expect(jobId).toMatch(new RegExp(`^${PLANS[index]!.execution_id}-[0-9a-f]{16}$`));
      expect(result).toMatchObject({ execution_id: PLANS[index]!.execution_id, status: 'SUCCESS', from_cache: false });
      // Real pytest ran the bundled calculator's three tests.
      expect(result.test_results).toMatchObject({ exit_code: 0, tests_passed: 3, tests_failed: 0 });
    }

    // The first plan again, under a new execution id, after its twin finished: the other
    // worker's process may take it, and the shared Redis cache answers.
    const duplicate = await producer!.submit({ ...PLANS[0], execution_id: 'calc-1-again' });
    expect(duplicate.result).toMatchObject({ execution_id: 'calc-1-again', status: 'SUCCESS', from_cache: true, llm_usage: [] });
    expect(duplicate.result.artifacts).toEqual(results[0]!.result.artifacts);

    // The same plan under the same execution id is the same job, answered with its retained result…
    const same = await producer!.submit(PLANS[1]);
    expect(same.jobId).toBe(results[1]!.jobId);
    expect(same.result).toMatchObject({ execution_id: 'calc-2', from_cache: false });
    // …but a changed plan under that execution id is a new job, not the old job's result (the
    // timeout is not part of the cache key, so it is a cache hit: no generation).
    const changed = await producer!.submit({ ...PLANS[1], timeout_seconds: 90 });
    expect(changed.jobId).not.toBe(results[1]!.jobId);
    expect(changed.jobId).toMatch(/^calc-2-[0-9a-f]{16}$/);
    expect(changed.result).toMatchObject({ execution_id: 'calc-2', status: 'SUCCESS', from_cache: true });

    await Promise.all(workers.map(stopWorker));
    const jobIds = [...results.map((result) => result.jobId), duplicate.jobId, changed.jobId];
    // Exactly once, as the queue saw it…
    await waitFor('every completion event', () => jobIds.every((id) => completions.has(id)), workers, 5_000);
    for (const id of jobIds) expect(completions.get(id)).toBe(1);
    const counts = await producer!.queue.getJobCounts('completed', 'failed', 'active', 'wait');
    expect(counts).toEqual({ completed: jobIds.length, failed: 0, active: 0, wait: 0 });
    for (const id of jobIds) expect((await producer!.queue.getJob(id))?.attemptsMade).toBe(1);

    // …and as the workers saw it: each job completed in one worker, once.
    const done = workers.flatMap((worker) => worker.events.filter((event) => event.event === 'completed'));
    expect(done.map((event) => event.jobId).sort()).toEqual([...jobIds].sort());
    for (const worker of workers) expect(worker.events.filter((event) => event.event === 'completed').length).toBeGreaterThan(0);

    // Four distinct plans, each green at its first iteration: four generations in all, none for the duplicate.
    const stopped = workers.map((worker) => worker.events.find((event) => event.event === 'stopped'));
    expect(stopped.every((event) => event !== undefined)).toBe(true);
    expect(stopped.reduce((sum, event) => sum + Number(event!.generatorCalls), 0)).toBe(PLANS.length);
    expect(stopped.reduce((sum, event) => sum + Number(event!.completed), 0)).toBe(jobIds.length);
  });
});
