import type { ArtifactBundle } from '../bundle.js';

export interface CacheCallOptions {
  readonly signal: AbortSignal;
}

/**
 * Stores bundles by key. Implementations: `LruCache` (in process; the agent's default),
 * `KeyvCache` (memory, Redis, any Keyv store), `MemoryCache` (`ptc-agent/testing`), or your own.
 *
 * The agent treats the cache as unreliable: every call is bounded by a timeout, a thrown error or
 * a value that fails the bundle schema becomes a warning and a miss, never a failed run.
 */
export interface Cache {
  /** `undefined` on a miss. The agent validates whatever comes back. */
  get(key: string, options: CacheCallOptions): Promise<unknown>;
  /** `ttlMs` 0 = no expiry. */
  set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void>;
  delete(key: string, options: CacheCallOptions): Promise<void>;
}
