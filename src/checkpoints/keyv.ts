import { Keyv } from 'keyv';
import type { CheckpointState } from '../checkpoint-state.js';
import type { CheckpointCallOptions, CheckpointStore } from '../contracts/checkpoint.js';
import { raceAbort } from '../internal/async.js';
import { rejectUnknownKeys } from '../internal/validate.js';

export interface KeyvCheckpointStoreOptions {
  /**
   * Where checkpoints live. Never disconnected by this store. For Redis use
   * `createRedisCheckpointStore` from `ptc-agent/redis` instead of `createKeyv('redis://…')`:
   * with @keyv/redis's defaults a lost Redis is retried forever, calls wait for it, and
   * `disconnect()` never resolves. @default a new in-memory Keyv
   */
  keyv?: Keyv;
  /** Prefix of every key: `<prefix><executionId>`. @default 'ptc-checkpoint:' */
  prefix?: string;
}

const OPTION_NAMES = ['keyv', 'prefix'] as const satisfies readonly (keyof KeyvCheckpointStoreOptions)[];

/**
 * Checkpoints on any Keyv store, so every process that reaches the same store can resume a run
 * another one started. It adds no timeout of its own: the agent bounds every call. On Redis,
 * `createRedisCheckpointStore` (`ptc-agent/redis`) builds one with a connection that cannot hang.
 */
export class KeyvCheckpointStore implements CheckpointStore {
  readonly keyv: Keyv;
  private readonly prefix: string;

  constructor(options: KeyvCheckpointStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    rejectUnknownKeys('KeyvCheckpointStore', options, OPTION_NAMES);
    if (options.keyv !== undefined && (typeof options.keyv !== 'object' || options.keyv === null || typeof options.keyv.get !== 'function' || typeof options.keyv.set !== 'function')) {
      throw new TypeError('keyv must be a Keyv instance (with get, set and delete)');
    }
    if (options.prefix !== undefined && typeof options.prefix !== 'string') throw new TypeError('prefix must be a string');
    this.keyv = options.keyv ?? new Keyv();
    this.prefix = options.prefix ?? 'ptc-checkpoint:';
  }

  load(executionId: string, options: CheckpointCallOptions): Promise<unknown> {
    return raceAbort(this.keyv.get(this.prefix + executionId), options.signal);
  }

  async save(executionId: string, state: CheckpointState, options: CheckpointCallOptions & { ttlMs?: number }): Promise<void> {
    const ttl = options.ttlMs !== undefined && options.ttlMs > 0 ? options.ttlMs : undefined;
    // Keyv turns a swallowed store error into `false`: a checkpoint that was not written must say so.
    if ((await raceAbort(this.keyv.set(this.prefix + executionId, state, ttl), options.signal)) === false) throw new Error('the store did not confirm the write');
  }

  async delete(executionId: string, options: CheckpointCallOptions): Promise<void> {
    await raceAbort(this.keyv.delete(this.prefix + executionId), options.signal);
  }
}
