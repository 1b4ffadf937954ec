/**
 * What the producer and the workers agree on: the queue name, the job shape, and how to reach
 * Redis. BullMQ talks to Redis through node-redis here (the client @keyv/redis ships), so no
 * second Redis driver (ioredis) is needed.
 */
import { createHash } from 'node:crypto';
import { createClient, type RedisClientType } from '@keyv/redis';
import { canonicalJson } from '../../src/internal/canonical-json.js';
import type { RomaArtifactResult, RomaExecutionPlan, RomaExecutionPlanInput } from '../../src/roma/index.js';

/** @default queue name, overridden by PTC_QUEUE. */
export const DEFAULT_QUEUE_NAME = 'ptc-roma';

/** A job carries a ROMA plan exactly as ROMA's client would POST it. */
export interface PlanJobData {
  plan: RomaExecutionPlanInput | Record<string, unknown>;
}

/** A job's return value: ROMA's result, with `metadata.worker_pid` and `metadata.worker_id`. */
export type PlanJobResult = RomaArtifactResult;

/** Connections BullMQ is given must be closed by whoever made them; this tracks them. */
export class RedisConnections {
  private readonly clients: RedisClientType[] = [];

  constructor(private readonly url: string) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      // The text may hold a password: never echo it.
      throw new TypeError('REDIS_URL must be a valid redis:// or rediss:// URL');
    }
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new TypeError(`REDIS_URL must start with redis:// or rediss://, got ${parsed.protocol}//`);
  }

  /** A new node-redis client for one BullMQ object. */
  create(): RedisClientType {
    const client = createClient({ url: this.url, socket: { connectTimeout: 5_000 } }) as RedisClientType;
    // node-redis throws an 'error' without a listener; BullMQ reports connection trouble itself.
    client.on('error', () => {});
    this.clients.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.allSettled(
      this.clients.splice(0).map(async (client) => {
        if (!client.isOpen) return;
        try {
          await client.close();
        } catch {
          client.destroy();
        }
      }),
    );
  }
}

/** BullMQ job ids may not contain `:` nor be integers: ROMA ids that do are hashed. */
function executionIdPart(executionId: string): string {
  if (/^[A-Za-z0-9._-]{1,200}$/.test(executionId) && !/^\d+$/.test(executionId)) return executionId;
  return `exec-${createHash('sha256').update(executionId, 'utf8').digest('hex').slice(0, 32)}`;
}

/**
 * The job id of a validated plan: `<execution_id>-<16 hex of sha256 of the plan>`. BullMQ keeps a
 * finished job (removeOnComplete / removeOnFail) and `add` with a retained id answers with that
 * old job, so the plan's content is part of the id: the same plan again joins (or re-reads) its
 * job, a changed plan under the same execution id gets a new one. `created_at` is left out (ROMA
 * stamps it with the current time when absent, so it would make every submit unique). A `-`
 * separator because BullMQ refuses `:` in custom ids.
 */
export function jobIdFor(plan: RomaExecutionPlan): string {
  const { created_at: _createdAt, ...body } = plan;
  const digest = createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex').slice(0, 16);
  return `${executionIdPart(plan.execution_id)}-${digest}`;
}
