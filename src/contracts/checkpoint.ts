import type { CheckpointState } from '../checkpoint-state.js';

export interface CheckpointCallOptions {
  readonly signal: AbortSignal;
}

/**
 * Keeps a run's state between iterations, by execution id, so another process can resume it.
 * Implementations: `MemoryCheckpointStore`, `KeyvCheckpointStore` (any Keyv store),
 * `createRedisCheckpointStore` (`ptc-agent/redis`), or your own.
 *
 * The agent treats the store as unreliable and untrusted: every call is bounded by
 * `cacheTimeoutMs`, a failure is a warning (never a failed run), and whatever `load` returns is
 * validated before it is used.
 */
export interface CheckpointStore {
  /** `undefined` when there is none. */
  load(executionId: string, options: CheckpointCallOptions): Promise<unknown>;
  /** Replaces the execution's checkpoint. `ttlMs` 0 or absent = no expiry. */
  save(executionId: string, state: CheckpointState, options: CheckpointCallOptions & { ttlMs?: number }): Promise<void>;
  delete(executionId: string, options: CheckpointCallOptions): Promise<void>;
}
