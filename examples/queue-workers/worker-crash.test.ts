/**
 * A worker dies in the middle of a run and another one finishes the job without paying again for
 * what was done: a real redis-server, two worker processes (node --import tsx worker.ts) whose
 * agent is the Anthropic generator pointed at a loopback fake Messages API (which counts every
 * generation), the local runner with real pytest, and the producer in this process.
 *
 * Iteration 1 is red; the fake holds iteration 2's generation open, the worker that runs the job
 * is SIGKILLed right then, BullMQ's stalled-job check hands the job to the other worker, and that
 * one resumes from the checkpoint in Redis: iteration 2 is generated again (it was in flight),
 * iteration 1 is not.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseRomaPlan } from '../../src/roma/index.js';
import { FakeAnthropicServer, writeFilesStream, type FakeReply, type RecordedRequest } from '../../test/fakes/anthropic-server.js';
import { RedisServer, rawCommand, redisSkipReason } from '../../test/helpers/redis-server.js';
import { PlanProducer, type SubmittedPlan } from './producer.js';
import { jobIdFor } from './shared.js';
import { hasExited, killWorker, spawnWorker, stopWorker, waitFor, type WorkerProcess } from './test-support.js';

const API_KEY = 'sk-ant-FAKEKEY-worker-crash-0123456789abcdef';
const MODEL = 'claude-sonnet-5';
const QUEUE = `ptc-crash-${process.pid}`;
const PLAN = {
  execution_id: 'crash-resume-1',
  scaffolding: { task_description: 'An add(a, b) function in calc.py', requirements: ['add returns the sum of a and b'] },
  max_iterations: 3,
  timeout_seconds: 120,
};
/** Where the worker's agent keeps this run's checkpoint (the cache namespace's default, `ptc-agent`). */
const CHECKPOINT_KEY = `ptc-agent:checkpoint:${PLAN.execution_id}`;

const TESTS = { path: 'tests/test_calc.py', content: 'from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n', kind: 'test' };
const RED = { files: [{ path: 'calc.py', content: 'def add(a, b):\n    return a - b\n', kind: 'source' }, TESTS], notes: 'First attempt.' };
const GREEN = { files: [{ path: 'calc.py', content: 'def add(a, b):\n    return a + b\n', kind: 'source' }, TESTS], notes: 'Fixed the sign.' };
const USAGE_RED = { input_tokens: 1_000, output_tokens: 200 };
const USAGE_GREEN = { input_tokens: 1_500, output_tokens: 300 };

/** The iteration a request generates, from the prompt's `# Iteration n:` heading. */
function iterationOf(request: RecordedRequest): number | undefined {
  const match = /# Iteration (\d+):/.exec(JSON.stringify(request.body?.messages ?? null));
  return match ? Number(match[1]) : undefined;
}

describe.skipIf(redisSkipReason !== undefined)(`a worker killed mid-run on a real Redis${redisSkipReason ? ` (SKIPPED: ${redisSkipReason})` : ''}`, () => {
  let redis: RedisServer | undefined;
  let model: FakeAnthropicServer | undefined;
  let producer: PlanProducer | undefined;
  const workers: WorkerProcess[] = [];
  const directories: string[] = [];
  /** Set by the fake when the first iteration-2 generation arrives (and is left hanging). */
  let iterationTwoInFlight = false;

  /** Iteration 1 red; the first iteration 2 hangs (the worker dies during it); the next one is green; anything else is refused. */
  function reply(request: RecordedRequest): FakeReply {
    const iteration = iterationOf(request);
    if (iteration === 1) return { kind: 'stream', events: writeFilesStream(RED, { model: MODEL, usage: USAGE_RED }) };
    if (iteration === 2 && !iterationTwoInFlight) {
      iterationTwoInFlight = true;
      return { kind: 'hang' };
    }
    if (iteration === 2) return { kind: 'stream', events: writeFilesStream(GREEN, { model: MODEL, usage: USAGE_GREEN }) };
    return { kind: 'error', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: `fake: unexpected iteration ${String(iteration)}` } } };
  }

  beforeAll(async () => {
    redis = await RedisServer.start();
    model = await FakeAnthropicServer.start({ apiKey: API_KEY });
    // Every request gets the dispatcher; more than these is itself a failure (the fake answers 500).
    model.enqueue(reply, reply, reply, reply);
    for (let index = 0; index < 2; index += 1) {
      // Its own temp directory: a killed worker cannot remove its sandbox workspace; afterAll does.
      const directory = mkdtempSync(join(tmpdir(), 'ptc-crash-worker-'));
      directories.push(directory);
      workers.push(
        spawnWorker({
          REDIS_URL: redis.url,
          PTC_QUEUE: QUEUE,
          PTC_WORKER_CONCURRENCY: '1',
          ANTHROPIC_API_KEY: API_KEY,
          ANTHROPIC_BASE_URL: model.url,
          ANTHROPIC_MODEL: MODEL,
          // A dead worker's job goes to the other within seconds instead of BullMQ's 30 s defaults.
          PTC_LOCK_DURATION_MS: '4000',
          PTC_STALLED_INTERVAL_MS: '1000',
          TMPDIR: directory,
        }),
      );
    }
    producer = new PlanProducer({ redisUrl: redis.url, queueName: QUEUE, resultTimeoutMs: 50_000 });
    await producer.ready();
    await waitFor('both workers to be ready', () => workers.every((worker) => worker.events.some((event) => event.event === 'ready')), workers);
  }, 30_000);

  afterAll(async () => {
    await Promise.allSettled(workers.map(stopWorker));
    await producer?.close();
    await model?.close();
    await redis?.stop();
    for (const directory of directories) rmSync(directory, { recursive: true, force: true });
  }, 30_000);

  test('the job finishes green in the other worker with only the missing generations; the checkpoint is gone after', { timeout: 60_000 }, async () => {
    for (const worker of workers) expect(worker.events.find((event) => event.event === 'ready')).toMatchObject({ cache: 'redis', checkpoints: 'redis', generator: `anthropic:${MODEL}` });
    const jobId = jobIdFor(parseRomaPlan(PLAN));
    const submitted = producer!.submit(PLAN).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );

    await waitFor('iteration 2 to be generating', () => iterationTwoInFlight, workers, 40_000);
    const crashing = workers.find((worker) => worker.events.some((event) => event.event === 'active' && event.jobId === jobId));
    expect(crashing).toBeDefined();
    const survivor = workers.find((worker) => worker !== crashing)!;
    // Iteration 1 was tested and the state saved before iteration 2 was asked for.
    expect(await rawCommand(redis!.port, `EXISTS ${CHECKPOINT_KEY}`)).toBe(':1');
    await killWorker(crashing!);
    expect(crashing!.child.signalCode).toBe('SIGKILL');

    const outcome = await submitted;
    if ('error' in outcome) throw new Error(`the job did not finish: ${String(outcome.error)}; worker stderr:\n${survivor.stderr}`);
    const { result, jobId: finishedJobId } = outcome.value as SubmittedPlan;
    expect(finishedJobId).toBe(jobId);
    expect(result).toMatchObject({ execution_id: PLAN.execution_id, status: 'SUCCESS', from_cache: false, iterations_used: 2, error_message: null });
    expect(result.test_results).toMatchObject({ exit_code: 0, tests_passed: 1, tests_failed: 0 });
    expect(result.artifacts.find((artifact) => artifact.file_path === 'calc.py')?.content).toBe(GREEN.files[0]!.content);
    // The survivor ran it, and its usage carries iteration 1 over (the lost in-flight call paid nothing here).
    expect(result.metadata.worker_pid).toBe(survivor.child.pid);
    expect(result.llm_usage).toEqual([
      expect.objectContaining({
        prompt_tokens: USAGE_RED.input_tokens + USAGE_GREEN.input_tokens,
        completion_tokens: USAGE_RED.output_tokens + USAGE_GREEN.output_tokens,
        api_calls: 2,
      }),
    ]);

    // Counted at the model: iteration 1 once; iteration 2 twice (the one in flight at the crash,
    // then the resumed one), the second asked exactly as the first.
    expect(model!.problems).toEqual([]);
    expect(model!.requests.map(iterationOf)).toEqual([1, 2, 2]);
    expect(model!.requests[2]!.body.messages).toEqual(model!.requests[1]!.body.messages);

    // The queue's view: the survivor found the stalled job and completed it, once. (Its log line
    // may arrive after the producer heard of the completion.)
    await waitFor('the survivor to log the completion', () => survivor.events.some((event) => event.event === 'completed'), workers);
    const survivorLog = survivor.events.filter((event) => event.jobId === jobId).map((event) => event.event);
    expect(survivorLog).toContain('stalled');
    expect(survivorLog.filter((event) => event !== 'stalled')).toEqual(['active', 'completed']);
    expect(crashing!.events.some((event) => event.event === 'completed' || event.event === 'failed')).toBe(false);
    expect(await producer!.queue.getJobCounts('completed', 'failed', 'active', 'wait')).toEqual({ completed: 1, failed: 0, active: 0, wait: 0 });

    // A finished run's checkpoint is deleted.
    expect(await rawCommand(redis!.port, `EXISTS ${CHECKPOINT_KEY}`)).toBe(':0');

    // The survivor's own count: it generated once (iteration 2), never iteration 1.
    await stopWorker(survivor);
    expect(hasExited(survivor)).toBe(true);
    expect(survivor.events.find((event) => event.event === 'stopped')).toMatchObject({ completed: 1, generatorCalls: 1 });
  });
});
