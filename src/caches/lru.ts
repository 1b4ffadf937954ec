import { LRUCache } from 'lru-cache';
import type { ArtifactBundle } from '../bundle.js';
import type { Cache, CacheCallOptions } from '../contracts/cache.js';
import { PTCError } from '../errors.js';
import { abortReason } from '../internal/async.js';
import { positiveInteger, rejectUnknownKeys } from '../internal/validate.js';

export interface LruCacheOptions {
  /**
   * Bound on what the entries hold, in bytes (each entry counted as the UTF-8 size of its JSON
   * text). The least recently used entries go first; a bundle larger than the bound is not stored
   * (`set` rejects with `CACHE_FAILED`, which the agent reports as a warning).
   * @default 67108864 (64 MiB)
   */
  maxSizeBytes?: number;
}

const LRU_CACHE_OPTION_NAMES = ['maxSizeBytes'] as const satisfies readonly (keyof LruCacheOptions)[];
const DEFAULT_MAX_SIZE_BYTES = 64 * 1024 * 1024;

/**
 * An in-process cache (`cache: new LruCache()`): bundles in this process's memory, least
 * recently used dropped first once `maxSizeBytes` is reached (on `lru-cache`). Entries are
 * stored as JSON text, so a caller that changes its bundle afterwards never changes what a later
 * hit returns, and what comes back is exactly what a remote store would give (the agent validates
 * it either way).
 *
 * For a cache shared between processes, or one that outlives the process, use `KeyvCache` on a
 * Keyv store (Redis: `createRedisCache` in `ptc-agent/redis`).
 */
export class LruCache implements Cache {
  /** Memory only: the agent calls it without a per-call timeout (see `Cache.inProcess`). */
  readonly inProcess = true;
  readonly maxSizeBytes: number;
  private readonly entries: LRUCache<string, string>;

  constructor(options: LruCacheOptions = {}) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
    rejectUnknownKeys('LruCache', options, LRU_CACHE_OPTION_NAMES);
    this.maxSizeBytes = positiveInteger('maxSizeBytes', options.maxSizeBytes, DEFAULT_MAX_SIZE_BYTES);
    this.entries = new LRUCache<string, string>({
      // Every set passes the entry's size (its JSON and its key, in bytes).
      maxSize: this.maxSizeBytes,
      // Expired entries are dropped when read, not by a timer per entry.
      ttlAutopurge: false,
    });
  }

  /** The entry's bundle as stored (not yet validated: the agent does that), or `undefined`. */
  get(key: string, options: CacheCallOptions): Promise<unknown> {
    if (options.signal.aborted) return Promise.reject(abortReason(options.signal));
    const json = this.entries.get(key);
    return Promise.resolve(json === undefined ? undefined : (JSON.parse(json) as unknown));
  }

  set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void> {
    if (options.signal.aborted) return Promise.reject(abortReason(options.signal));
    const { ttlMs } = options;
    if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < 0) {
      return Promise.reject(new TypeError(`ttlMs must be an integer >= 0 (0 = no expiry), got ${String(ttlMs)}`));
    }
    const json = JSON.stringify(bundle);
    const bytes = Buffer.byteLength(json, 'utf8') + Buffer.byteLength(key, 'utf8');
    if (bytes > this.maxSizeBytes) {
      // lru-cache would drop it silently; the caller is told instead.
      this.entries.delete(key);
      return Promise.reject(new PTCError('CACHE_FAILED', `the bundle takes ${bytes} bytes, more than the cache's maxSizeBytes (${this.maxSizeBytes}); it was not stored`));
    }
    this.entries.set(key, json, { ttl: ttlMs, size: bytes });
    return Promise.resolve();
  }

  delete(key: string, options: CacheCallOptions): Promise<void> {
    if (options.signal.aborted) return Promise.reject(abortReason(options.signal));
    this.entries.delete(key);
    return Promise.resolve();
  }

  /** Bytes held now, as counted against `maxSizeBytes`. */
  get sizeBytes(): number {
    return this.entries.calculatedSize;
  }

  /** Entries held now (expired ones not yet read count until they are). */
  get size(): number {
    return this.entries.size;
  }
}
