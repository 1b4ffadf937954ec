/**
 * The producer: enqueues ROMA plans and waits for their results, which come back through the
 * queue (BullMQ's QueueEvents), whichever worker ran them.
 *
 *   REDIS_URL=redis://127.0.0.1:6379 npx tsx examples/queue-workers/producer.ts [plans.json]
 *
 * plans.json is a JSON array of ROMA `PTCExecutionPlan`s (default: plans.example.json here). Once
 * they are done, the first is submitted again under a new execution id: a cache hit.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Queue, QueueEvents } from 'bullmq';
import { parseRomaPlan, RomaArtifactResultSchema, type RomaArtifactResult } from '../../src/roma/index.js';
import { DEFAULT_QUEUE_NAME, jobIdFor, RedisConnections, type PlanJobData, type PlanJobResult } from './shared.js';

export interface PlanProducerOptions {
  redisUrl: string;
  /** @default 'ptc-roma' */
  queueName?: string;
  /** How long `submit` waits for a result, in ms. @default 900000 (ROMA's longest plan timeout is 3600 s: raise it for those) */
  resultTimeoutMs?: number;
}

export interface SubmittedPlan {
  jobId: string;
  result: RomaArtifactResult;
}

export class PlanProducer {
  readonly queue: Queue<PlanJobData, PlanJobResult>;
  readonly events: QueueEvents;
  private readonly connections: RedisConnections;
  private readonly resultTimeoutMs: number;

  constructor(options: PlanProducerOptions) {
    const resultTimeoutMs = options.resultTimeoutMs ?? 900_000;
    if (!Number.isSafeInteger(resultTimeoutMs) || resultTimeoutMs <= 0) throw new TypeError(`resultTimeoutMs must be a positive integer, got ${String(resultTimeoutMs)}`);
    this.resultTimeoutMs = resultTimeoutMs;
    this.connections = new RedisConnections(options.redisUrl);
    const queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
    this.queue = new Queue<PlanJobData, PlanJobResult>(queueName, {
      connection: this.connections.create() as never,
      defaultJobOptions: {
        // A run already iterates on its own failures; a second attempt would only pay for them again.
        attempts: 1,
        removeOnComplete: { age: 3_600, count: 10_000 },
        removeOnFail: { age: 24 * 3_600 },
      },
    });
    this.events = new QueueEvents(queueName, { connection: this.connections.create() as never });
  }

  /** Resolves once both connections are up (so no completion can be missed). */
  async ready(): Promise<void> {
    await Promise.all([this.queue.waitUntilReady(), this.events.waitUntilReady()]);
  }

  /**
   * Validates the plan as ROMA's service would (throws `RomaPlanValidationError`), enqueues it
   * under a job id derived from its `execution_id` and its content (`jobIdFor`: a second submit
   * of the same plan while its job is queued, running or retained joins that job instead of
   * running it twice; a changed plan under the same execution id is a new job), and resolves
   * with the validated ROMA result.
   */
  async submit(plan: unknown): Promise<SubmittedPlan> {
    const roma = parseRomaPlan(plan);
    await this.ready();
    const jobId = jobIdFor(roma);
    const job = await this.queue.add('execute', { plan: roma }, { jobId });
    const value = await job.waitUntilFinished(this.events, this.resultTimeoutMs);
    return { jobId, result: RomaArtifactResultSchema.parse(value) };
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.events.close(), this.queue.close()]);
    await this.connections.closeAll();
  }
}

// Run directly: `npx tsx examples/queue-workers/producer.ts [plans.json]`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) throw new TypeError('REDIS_URL is required');
  const path = process.argv[2] ?? fileURLToPath(new URL('./plans.example.json', import.meta.url));
  const plans = JSON.parse(await readFile(path, 'utf8')) as unknown[];
  const producer = new PlanProducer({ redisUrl, ...(process.env.PTC_QUEUE ? { queueName: process.env.PTC_QUEUE } : {}) });
  try {
    const results = await Promise.all(plans.map((plan) => producer.submit(plan)));
    // The first plan again under a new execution id: whichever worker takes it, the shared
    // Redis cache already holds its result, so no model call and no test run.
    const first = plans[0] as { execution_id?: unknown } | undefined;
    if (first && typeof first.execution_id === 'string') results.push(await producer.submit({ ...first, execution_id: `${first.execution_id}-again` }));
    for (const { jobId, result } of results) {
      console.log(
        `${jobId}: ${result.status}${result.from_cache ? ' (from cache)' : ''}, ${result.artifacts.length} files, ` +
          `${result.test_results ? `${result.test_results.tests_passed} passed / ${result.test_results.tests_failed} failed` : 'no tests'}, ` +
          `worker ${String(result.metadata.worker_id)}`,
      );
    }
  } finally {
    await producer.close();
  }
}
