/**
 * A worker process: takes ROMA plans off the queue, runs each with a PTCAgent whose cache is the
 * shared Redis, and returns ROMA's result through the queue. Start as many as you like, on as
 * many machines as reach the Redis:
 *
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/queue-workers/worker.ts
 *
 * Environment: REDIS_URL (required), PTC_QUEUE (default `ptc-roma`), PTC_WORKER_CONCURRENCY
 * (jobs at once, default 2), PTC_LOCK_DURATION_MS and PTC_STALLED_INTERVAL_MS (BullMQ's
 * `lockDuration` and `stalledInterval`, default 30000 each: how soon the job of a worker that died
 * goes to another one), plus everything examples/roma-server/environment.ts reads
 * (ANTHROPIC_API_KEY or PTC_SCRIPT, DAYTONA_API_KEY, MAX_CONCURRENT_EXECUTIONS…). With REDIS_URL
 * the agent saves checkpoints on that Redis, so a job re-delivered after its worker died resumes
 * the run where it stopped. It prints one JSON line per event (`ready`, `active`, `stalled`,
 * `completed`, `failed`, `stopped`) on stdout.
 */
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import { UnrecoverableError, Worker } from 'bullmq';
import { fromRomaPlan, parseRomaPlan, RomaPlanValidationError, toRomaResult } from '../../src/roma/index.js';
import { createAgentFromEnvironment, positiveInteger, type AgentSetup, type Environment } from '../roma-server/environment.js';
import { DEFAULT_QUEUE_NAME, RedisConnections, type PlanJobData, type PlanJobResult } from './shared.js';

export interface WorkerEvent {
  event: 'ready' | 'active' | 'stalled' | 'completed' | 'failed' | 'stopped';
  workerId: string;
  pid: number;
  [field: string]: unknown;
}

export interface StartWorkerOptions {
  /** @default process.env */
  env?: Environment;
  /** Receives one record per event. @default a JSON line on stdout */
  onEvent?: (event: WorkerEvent) => void;
  onWarning?: (message: string) => void;
}

export interface RunningWorker {
  worker: Worker<PlanJobData, PlanJobResult>;
  setup: AgentSetup;
  workerId: string;
  /** Waits for the jobs in hand (BullMQ's graceful close), then closes Redis and the agent's connections. */
  close(): Promise<void>;
}

export async function startWorker(options: StartWorkerOptions = {}): Promise<RunningWorker> {
  const env = options.env ?? process.env;
  const redisUrl = env.REDIS_URL;
  if (!redisUrl) throw new TypeError('REDIS_URL is required: the workers share their queue and their cache through Redis');
  const queueName = env.PTC_QUEUE || DEFAULT_QUEUE_NAME;
  const concurrency = positiveInteger(env, 'PTC_WORKER_CONCURRENCY', 2);
  // A job whose worker died (no lock renewal for lockDuration) is found by another worker's
  // stalled-job check (every stalledInterval) and run again; with checkpoints it resumes.
  const lockDuration = positiveInteger(env, 'PTC_LOCK_DURATION_MS', 30_000);
  const stalledInterval = positiveInteger(env, 'PTC_STALLED_INTERVAL_MS', 30_000);
  const workerId = `${hostname()}:${process.pid}`;
  const emit = options.onEvent ?? ((event: WorkerEvent) => console.log(JSON.stringify(event)));
  const connections = new RedisConnections(redisUrl);
  const setup = await createAgentFromEnvironment(env, options.onWarning ? { onWarning: options.onWarning } : {});
  let completed = 0;

  const worker = new Worker<PlanJobData, PlanJobResult>(
    queueName,
    async (job, _token, signal) => {
      let romaPlan;
      let plan;
      try {
        romaPlan = parseRomaPlan(job.data.plan);
        plan = fromRomaPlan(romaPlan);
      } catch (error) {
        // An invalid plan stays invalid: no retry.
        if (error instanceof RomaPlanValidationError) throw new UnrecoverableError(`Invalid plan: ${JSON.stringify(error.detail)}`);
        throw error;
      }
      // The same execution id as the job's earlier delivery: when that run saved a checkpoint
      // (its worker died mid-run), execute resumes it instead of starting afresh.
      const bundle = await setup.agent.execute(plan, signal ? { signal } : {});
      return toRomaResult(bundle, { plan: romaPlan, metadata: { worker_id: workerId, worker_pid: process.pid } });
    },
    // Every BullMQ object gets its own connection (the worker duplicates it for blocking reads).
    { connection: connections.create() as never, concurrency, autorun: false, lockDuration, stalledInterval },
  );
  worker.on('active', (job) => {
    emit({ event: 'active', workerId, pid: process.pid, jobId: job.id });
  });
  // This worker found a job whose worker stopped renewing its lock and put it back in the queue.
  worker.on('stalled', (jobId) => {
    emit({ event: 'stalled', workerId, pid: process.pid, jobId });
  });
  worker.on('completed', (job, result) => {
    completed += 1;
    emit({ event: 'completed', workerId, pid: process.pid, jobId: job.id, executionId: result.execution_id, status: result.status, fromCache: result.from_cache, attemptsMade: job.attemptsMade });
  });
  worker.on('failed', (job, error) => {
    emit({ event: 'failed', workerId, pid: process.pid, jobId: job?.id, error: error.message });
  });
  // Connection trouble is retried by BullMQ; without a listener it would be an unhandled 'error'.
  worker.on('error', (error) => options.onWarning?.(`worker: ${error.message}`));

  try {
    void worker.run();
    await worker.waitUntilReady();
  } catch (error) {
    await worker.close().catch(() => {});
    await connections.closeAll();
    await setup.close();
    throw error;
  }
  emit({
    event: 'ready',
    workerId,
    pid: process.pid,
    queue: queueName,
    concurrency,
    generator: setup.description.generator.id,
    cache: setup.description.cache.kind,
    checkpoints: setup.description.checkpoints.kind,
  });

  let closing: Promise<void> | undefined;
  return {
    worker,
    setup,
    workerId,
    close: () => {
      closing ??= (async () => {
        await worker.close();
        await connections.closeAll();
        await setup.close();
        emit({ event: 'stopped', workerId, pid: process.pid, completed, generatorCalls: setup.generatorCalls() });
      })();
      return closing;
    },
  };
}

// Run directly: `npx tsx examples/queue-workers/worker.ts`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const running = await startWorker({ onWarning: (message) => console.error(message) });
  const stop = () => {
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
