import type { CheckpointState } from '../checkpoint-state.js';
import type { CheckpointCallOptions, CheckpointStore } from '../contracts/checkpoint.js';
import { throwIfAborted } from '../internal/async.js';

/**
 * Checkpoints in this process's memory: a run cancelled here can be resumed here (a crashed
 * process loses them; use `createRedisCheckpointStore` from `ptc-agent/redis` for that). Stored
 * as JSON text, so a caller changing the state afterwards cannot reach the stored copy, and
 * `load` returns what a remote store would: plain JSON.
 */
export class MemoryCheckpointStore implements CheckpointStore {
  private readonly entries = new Map<string, { text: string; expiresAt: number }>();

  async load(executionId: string, options: CheckpointCallOptions): Promise<unknown> {
    throwIfAborted(options.signal);
    const entry = this.entries.get(executionId);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(executionId);
      return undefined;
    }
    return JSON.parse(entry.text) as unknown;
  }

  async save(executionId: string, state: CheckpointState, options: CheckpointCallOptions & { ttlMs?: number }): Promise<void> {
    throwIfAborted(options.signal);
    const ttlMs = options.ttlMs ?? 0;
    this.entries.set(executionId, { text: JSON.stringify(state), expiresAt: ttlMs > 0 ? Date.now() + ttlMs : Number.POSITIVE_INFINITY });
  }

  async delete(executionId: string, options: CheckpointCallOptions): Promise<void> {
    throwIfAborted(options.signal);
    this.entries.delete(executionId);
  }

  /** Execution ids with a checkpoint (expired ones included until read). */
  get size(): number {
    return this.entries.size;
  }
}
