import type { ArtifactBundle } from '../bundle.js';

export interface CacheCallOptions {
  readonly signal: AbortSignal;
}

/**
 * Stores bundles by key. Implementations: `LruCache` (in process), `KeyvCache` (memory, Redis,
 * any Keyv store), `MemoryCache` (`ptc-agent/testing`), or your own. The agent has none unless
 * its `cache` option names one.
 *
 * The agent treats the cache as unreliable: every call is bounded by a timeout (`cacheTimeoutMs`,
 * unless the cache is `inProcess`), a thrown error or a value that fails the bundle schema becomes
 * a warning and a miss, never a failed run.
 */
export interface Cache {
  /**
   * `true` when every call settles from this process's memory, with no I/O and no timer
   * (`LruCache`, `MemoryCache`). The agent then calls it without a per-call timeout: that timer
   * and its abort wiring cost more than such a call (about 15 µs per run). A cache that claims it
   * and then hangs holds its run until the run's own deadline. @default false
   */
  readonly inProcess?: boolean;
  /** `undefined` on a miss. The agent validates whatever comes back. */
  get(key: string, options: CacheCallOptions): Promise<unknown>;
  /** `ttlMs` 0 = no expiry. */
  set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void>;
  delete(key: string, options: CacheCallOptions): Promise<void>;
}
