import { Keyv, type Deserialize } from 'keyv';
import { z } from 'zod';
import { ArtifactBundleSchema, type ArtifactBundle } from '../bundle.js';
import { CACHE_FORMAT_VERSION } from '../cache-key.js';
import type { Cache, CacheCallOptions } from '../contracts/cache.js';
import { PTCError, PTCTimeoutError } from '../errors.js';
import { abortReason, throwIfAborted, withTimeout } from '../internal/async.js';
import { trimMiddle } from '../internal/text.js';
import { durationMs, positiveInteger, rejectUnknownKeys } from '../internal/validate.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const KEYV_CACHE_OPTION_NAMES = ['keyv', 'namespace', 'maxEntries', 'operationTimeoutMs', 'onWarning'] as const satisfies readonly (keyof KeyvCacheOptions)[];

/** What a `KeyvCache` reports instead of throwing from `get`. JSON-safe, like the agent's `warning` event. */
export interface CacheWarning {
  /**
   * - `CACHE_ENTRY_INVALID`: a stored value is corrupt, foreign, or of another format version; it
   *   was treated as a miss (the next `set` overwrites it).
   * - `CACHE_UNAVAILABLE`: the store failed or timed out, or (Redis) the connection is down.
   */
  code: 'CACHE_ENTRY_INVALID' | 'CACHE_UNAVAILABLE';
  message: string;
  /** The cache key concerned, when there is one. */
  key?: string;
}

/** How an entry is stored: the bundle wrapped with the format version that wrote it. */
export interface CacheEntry {
  format: number;
  /** ISO 8601, UTC. */
  storedAt: string;
  bundle: ArtifactBundle;
}

export interface KeyvCacheOptions {
  /**
   * The Keyv instance to store entries in (Redis, SQLite, any Keyv store). Its namespace is its
   * own; KeyvCache adds no prefix of its own. It is never disconnected by KeyvCache.
   * @default a new in-memory `Keyv` with `namespace`
   */
  keyv?: Keyv;
  /**
   * Namespace of the in-memory Keyv created when `keyv` is not given. Not allowed together with
   * `keyv` (set it on your Keyv instead).
   * @default 'ptc-agent'
   */
  namespace?: string;
  /**
   * Most entries the in-memory store keeps (only when `keyv` is not given); past it the least
   * recently written entry is dropped. Keyv frees an expired entry only when its key is read again,
   * so without a bound a long-running process would keep every bundle it ever cached.
   * @default 1000
   */
  maxEntries?: number;
  /**
   * Upper bound of every get/set/delete, in ms. A store that hangs (a Redis that vanished) costs
   * a run at most this much per call. (The default in-memory store cannot hang and skips the timer.)
   * @default 1000
   */
  operationTimeoutMs?: number;
  /**
   * Called for every corrupt entry and every failed or timed-out call. Never receives secrets.
   * @default undefined (warnings are dropped)
   */
  onWarning?: (warning: CacheWarning) => void;
}

export const DEFAULT_CACHE_NAMESPACE = 'ptc-agent';
const DEFAULT_OPERATION_TIMEOUT_MS = 1_000;
const DEFAULT_MAX_ENTRIES = 1_000;

/** A Map that keeps at most `maxEntries`, dropping the least recently written first. */
class BoundedMap extends Map<string, unknown> {
  constructor(private readonly maxEntries: number) {
    super();
  }

  override set(key: string, value: unknown): this {
    // Re-inserting moves the key to the end, so iteration order is write order.
    super.delete(key);
    super.set(key, value);
    while (this.size > this.maxEntries) {
      const oldest = this.keys().next();
      if (oldest.done) break;
      super.delete(oldest.value);
    }
    return this;
  }
}
const MAX_DETAIL_CHARS = 500;

/** The message of a foreign error, shortened; a store error can be arbitrarily long. */
export function describeCacheError(error: unknown): string {
  if (error instanceof PTCTimeoutError) return `timed out after ${error.timeoutMs} ms`;
  const message = error instanceof Error ? error.message || error.name : String(error);
  return trimMiddle(message, MAX_DETAIL_CHARS).text;
}


const jsonDeserialize: Deserialize = (text) => JSON.parse(text);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isKeyvLike(value: unknown): value is Keyv {
  return (
    isRecord(value) &&
    typeof value.get === 'function' &&
    typeof value.set === 'function' &&
    typeof value.delete === 'function'
  );
}

/**
 * A `Cache` on any Keyv instance (memory by default; see `createRedisCache` in `ptc-agent/redis`).
 *
 * Entries are stored as `{ format, storedAt, bundle }` and validated with `ArtifactBundleSchema`
 * when read, so a corrupt, foreign or old entry is a miss plus a `CACHE_ENTRY_INVALID` warning.
 * Every call is bounded by `operationTimeoutMs` and the caller's signal.
 *
 * Failure policy: `get` never throws (a failure is a miss plus a `CACHE_UNAVAILABLE` warning, an
 * abort a plain miss). `set` and `delete` reject with `PTCError('CACHE_FAILED')` (the store error
 * or the timeout as `cause`), or with the abort error when the caller's signal aborted; the agent
 * turns that into a warning. `set` also rejects when the store reports that it did not write.
 */
export class KeyvCache implements Cache {
  readonly keyv: Keyv;
  readonly operationTimeoutMs: number;
  /** Our own Map-backed Keyv cannot hang, so its calls skip the timer (a third of a hit's cost). */
  private readonly ownMemoryStore: boolean;
  private readonly onWarning: ((warning: CacheWarning) => void) | undefined;

  constructor(options: KeyvCacheOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    rejectUnknownKeys('KeyvCache', options, KEYV_CACHE_OPTION_NAMES);
    if (options.keyv !== undefined && !isKeyvLike(options.keyv)) {
      throw new TypeError('keyv must be a Keyv instance (with get, set and delete)');
    }
    if (options.keyv !== undefined && options.namespace !== undefined) {
      throw new TypeError('namespace cannot be combined with keyv: set the namespace on your Keyv instance');
    }
    if (options.namespace !== undefined && (typeof options.namespace !== 'string' || options.namespace.length === 0)) {
      throw new TypeError('namespace must be a non-empty string');
    }
    if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
      throw new TypeError('onWarning must be a function');
    }
    this.operationTimeoutMs = durationMs('operationTimeoutMs', options.operationTimeoutMs, DEFAULT_OPERATION_TIMEOUT_MS);
    this.onWarning = options.onWarning;
    this.ownMemoryStore = options.keyv === undefined;
    if (options.keyv !== undefined && options.maxEntries !== undefined) {
      throw new TypeError('maxEntries cannot be combined with keyv: bound your own store instead');
    }
    const maxEntries = positiveInteger('maxEntries', options.maxEntries, DEFAULT_MAX_ENTRIES);
    this.keyv =
      options.keyv ??
      new Keyv({
        store: new BoundedMap(maxEntries),
        namespace: options.namespace ?? DEFAULT_CACHE_NAMESPACE,
        // Plain JSON: a bundle holds no Buffers, and Keyv's default reviver doubles the cost of a
        // hit. Stored as text, so a caller's later mutation never reaches the stored entry.
        serialize: (data) => JSON.stringify(data),
        deserialize: jsonDeserialize,
      });
  }

  /** A hit is a validated bundle; a miss, a bad entry, a failure or an abort is `undefined`. */
  async get(key: string, options: CacheCallOptions): Promise<ArtifactBundle | undefined> {
    if (options.signal.aborted) return undefined;
    let stored: unknown;
    try {
      // raw: Keyv's `{ value, expires }`, so a foreign value without that envelope is seen, not
      // silently read as a miss.
      stored = await this.bounded(options.signal, 'cache get', () => this.keyv.get(key, { raw: true }));
    } catch (error) {
      if (options.signal.aborted) return undefined;
      // Keyv parses stored text before handing it over: text that is not JSON throws here.
      if (error instanceof SyntaxError) this.invalid(key, `is not JSON (${describeCacheError(error)})`);
      else this.warn({ code: 'CACHE_UNAVAILABLE', message: `Cache get failed: ${describeCacheError(error)}`, key });
      return undefined;
    }
    return this.unwrap(key, stored);
  }

  async set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void> {
    const { ttlMs } = options;
    if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 0) {
      throw new TypeError(`ttlMs must be an integer >= 0 (0 = no expiry), got ${String(ttlMs)}`);
    }
    const entry: CacheEntry = { format: CACHE_FORMAT_VERSION, storedAt: new Date().toISOString(), bundle };
    await this.call('set', key, options.signal, async () => {
      // Keyv turns a swallowed store error into `false`. (Some stores, @keyv/redis without
      // throwOnErrors among them, report `true` even then: see `createRedisCache`.)
      if ((await this.keyv.set(key, entry, ttlMs)) === false) throw new Error('the store did not confirm the write');
    });
  }

  async delete(key: string, options: CacheCallOptions): Promise<void> {
    // Keyv answers `false` both for a missing key and for a swallowed error, so `false` says nothing.
    await this.call('delete', key, options.signal, () => this.keyv.delete(key));
  }

  /**
   * Runs before every store call, inside its timeout; rejecting makes the call fail fast. The
   * Redis cache uses it to connect lazily and to refuse calls while Redis is down.
   */
  protected async ready(_signal: AbortSignal): Promise<void> {}

  /** Removes secrets (the Redis cache: its URL's password) from warning and error messages. */
  protected redact(text: string): string {
    return text;
  }

  protected warn(warning: CacheWarning): void {
    if (!this.onWarning) return;
    try {
      this.onWarning({ ...warning, message: this.redact(warning.message) });
    } catch {
      // A throwing listener must not turn a cache miss into a failed run.
    }
  }

  private async call<T>(what: 'set' | 'delete', key: string, signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    try {
      return await this.bounded(signal, `cache ${what}`, task);
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      const message = this.redact(`Cache ${what} failed: ${describeCacheError(error)}`);
      this.warn({ code: 'CACHE_UNAVAILABLE', message, key });
      throw new PTCError('CACHE_FAILED', message, { cause: error });
    }
  }

  /** `ready()` then `task`, within `operationTimeoutMs` and the caller's signal. */
  private bounded<T>(signal: AbortSignal, what: string, task: () => Promise<T>): Promise<T> {
    if (this.ownMemoryStore) {
      throwIfAborted(signal);
      return task();
    }
    return withTimeout(
      async (inner) => {
        await this.ready(inner);
        return task();
      },
      this.operationTimeoutMs,
      signal,
      what,
    );
  }

  private unwrap(key: string, stored: unknown): ArtifactBundle | undefined {
    if (stored === undefined || stored === null) return undefined;
    if (!isRecord(stored) || !('value' in stored)) return this.invalid(key, 'is not a Keyv entry');
    const entry = stored.value;
    if (!isRecord(entry) || typeof entry.format !== 'number' || !('bundle' in entry)) {
      return this.invalid(key, 'is not a ptc-agent cache entry');
    }
    if (entry.format !== CACHE_FORMAT_VERSION) {
      return this.invalid(key, `has format ${entry.format}; this version reads format ${CACHE_FORMAT_VERSION}`);
    }
    const parsed = ArtifactBundleSchema.safeParse(entry.bundle);
    if (!parsed.success) {
      return this.invalid(key, `holds an invalid bundle: ${trimMiddle(z.prettifyError(parsed.error), MAX_DETAIL_CHARS).text}`);
    }
    return parsed.data;
  }

  private invalid(key: string, problem: string): undefined {
    this.warn({ code: 'CACHE_ENTRY_INVALID', message: `Ignored cache entry ${key}: it ${problem}`, key });
    return undefined;
  }
}
