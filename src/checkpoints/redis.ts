import { createKeyv, type RedisClientType } from '@keyv/redis';
import { describeCacheError } from '../caches/keyv.js';
import { REDIS_CONNECTION_OPTION_NAMES, RedisConnection, resolveRedisConnectionOptions, type RedisConnectionOptions } from '../caches/redis-connection.js';
import type { CheckpointState } from '../checkpoint-state.js';
import type { CheckpointCallOptions, CheckpointStore } from '../contracts/checkpoint.js';
import { PTCError } from '../errors.js';
import { abortReason, withTimeout } from '../internal/async.js';
import { rejectUnknownKeys } from '../internal/validate.js';
import { KeyvCheckpointStore } from './keyv.js';

/** A connection problem of the checkpoint store, reported while no call is waiting on it. */
export interface CheckpointStoreWarning {
  code: 'CHECKPOINT_STORE_UNAVAILABLE';
  /** Never holds the URL's password. */
  message: string;
}

export interface RedisCheckpointStoreOptions extends RedisConnectionOptions {
  /** Checkpoints are stored as `<namespace>:checkpoint:<execution id>`. @default 'ptc-agent' */
  namespace?: string;
  /**
   * Receives Redis connection errors (throttled by `errorWarningIntervalMs`). Calls that fail
   * also reject, and the run reports those as `CHECKPOINT_FAILED` warnings. @default undefined
   */
  onWarning?: (warning: CheckpointStoreWarning) => void;
}

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const OPTION_NAMES = ['namespace', ...REDIS_CONNECTION_OPTION_NAMES, 'onWarning'] as const satisfies readonly (keyof RedisCheckpointStoreOptions)[];

/**
 * Checkpoints on Redis that can never hang a run or a shutdown: the connection of
 * `createRedisCache` (no offline queue, bounded connects and reconnects, the password kept out of
 * every message), each call bounded by `operationTimeoutMs` as well as by the caller's signal,
 * and a `disconnect()` that resolves within `operationTimeoutMs` whatever state Redis is in.
 * Entries are Keyv's (`{ value, expires }` as text, a PX expiry from `ttlMs`), so any Keyv reader
 * on the same Redis sees them. Connects lazily, on the first call.
 */
export class RedisCheckpointStore implements CheckpointStore {
  /** The node-redis client, for callers who need raw access. */
  readonly client: RedisClientType;
  /** `<namespace>:checkpoint:`, the start of every key. */
  readonly prefix: string;
  private readonly connection: RedisConnection;
  private readonly store: KeyvCheckpointStore;
  private readonly operationTimeoutMs: number;

  /** Use `createRedisCheckpointStore`. @internal */
  constructor(parts: { connection: RedisConnection; namespace: string; connectTimeoutMs: number; operationTimeoutMs: number }) {
    this.connection = parts.connection;
    this.client = parts.connection.client;
    this.operationTimeoutMs = parts.operationTimeoutMs;
    this.prefix = `${parts.namespace}:checkpoint:`;
    const keyv = createKeyv(this.client, {
      // A failed write must reject: @keyv/redis would otherwise report it as success.
      throwOnErrors: true,
      throwOnConnectError: false,
      // Only a backstop: `ready()` connects first. Its timer is not unref'd (keyv #2070).
      connectionTimeout: parts.connectTimeoutMs,
    });
    this.store = new KeyvCheckpointStore({ keyv, prefix: this.prefix });
  }

  load(executionId: string, options: CheckpointCallOptions): Promise<unknown> {
    return this.bounded('load', options.signal, (signal) => this.store.load(executionId, { signal }));
  }

  save(executionId: string, state: CheckpointState, options: CheckpointCallOptions & { ttlMs?: number }): Promise<void> {
    const ttl = options.ttlMs !== undefined ? { ttlMs: options.ttlMs } : {};
    return this.bounded('save', options.signal, (signal) => this.store.save(executionId, state, { signal, ...ttl }));
  }

  delete(executionId: string, options: CheckpointCallOptions): Promise<void> {
    return this.bounded('delete', options.signal, (signal) => this.store.delete(executionId, { signal }));
  }

  /**
   * Closes the connection this store opened (pending commands get `operationTimeoutMs`, then the
   * socket is dropped) and makes later calls fail fast. An injected client is left open. Idempotent.
   */
  disconnect(): Promise<void> {
    return this.connection.disconnect();
  }

  /** Connects if needed, then `task`, within `operationTimeoutMs` and the caller's signal; errors redacted. */
  private async bounded<T>(what: 'load' | 'save' | 'delete', signal: AbortSignal, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await withTimeout(
        async (inner) => {
          await this.connection.ready(inner);
          return task(inner);
        },
        this.operationTimeoutMs,
        signal,
        `checkpoint ${what}`,
      );
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      const message = this.connection.redact(`Checkpoint ${what} failed: ${describeCacheError(error)}`);
      throw new PTCError('CHECKPOINT_FAILED', message, { cause: error });
    }
  }
}

/**
 * A `RedisCheckpointStore` for `url` (`redis://[user:password@]host:port[/db]`, `rediss://` for
 * TLS), or for an existing node-redis client, which you connect and close yourself. Prefer it to
 * a `KeyvCheckpointStore` on `createKeyv('redis://…')`: with @keyv/redis's defaults a dead Redis
 * is retried forever and `disconnect()` never resolves, so a worker's shutdown hangs.
 *
 * ```ts
 * import { createRedisCheckpointStore } from 'ptc-agent/redis';
 * const checkpoints = createRedisCheckpointStore(process.env.REDIS_URL!, { namespace: 'my-app' });
 * const agent = new PTCAgent({ generator, checkpoints });
 * // on shutdown, after agent.close()
 * await checkpoints.disconnect();
 * ```
 */
export function createRedisCheckpointStore(urlOrClient: string | RedisClientType, options: RedisCheckpointStoreOptions = {}): RedisCheckpointStore {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  rejectUnknownKeys('createRedisCheckpointStore', options, OPTION_NAMES);
  const namespace = options.namespace ?? 'ptc-agent';
  if (typeof namespace !== 'string' || namespace.length === 0) throw new TypeError('namespace must be a non-empty string');
  const resolved = resolveRedisConnectionOptions(options);
  const onWarning = options.onWarning;
  if (onWarning !== undefined && typeof onWarning !== 'function') throw new TypeError('onWarning must be a function');
  const connection = RedisConnection.open('createRedisCheckpointStore', urlOrClient, resolved, {
    subject: 'the checkpoint store',
    errorCode: 'CHECKPOINT_FAILED',
    onError: (message) => {
      try {
        onWarning?.({ code: 'CHECKPOINT_STORE_UNAVAILABLE', message });
      } catch {
        // A throwing listener must not break the connection's error handling.
      }
    },
  });
  return new RedisCheckpointStore({ connection, namespace, connectTimeoutMs: resolved.connectTimeoutMs, operationTimeoutMs: resolved.operationTimeoutMs });
}
