import type { ArtifactBundle } from '../bundle.js';
import type { Cache, CacheCallOptions } from '../contracts/cache.js';
import { abortReason } from '../internal/async.js';

/**
 * A `Cache` in a Map, storing JSON as a remote store would (so a caller's later mutation never
 * changes a stored entry). Counts calls for tests. For production use `KeyvCache`.
 */
export class MemoryCache implements Cache {
  /** Memory only: the agent calls it without a per-call timeout (see `Cache.inProcess`). */
  readonly inProcess = true;
  readonly entries = new Map<string, { json: string; expiresAt: number }>();
  gets = 0;
  sets = 0;
  deletes = 0;

  async get(key: string, options: CacheCallOptions): Promise<unknown> {
    if (options.signal.aborted) throw abortReason(options.signal);
    this.gets += 1;
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt !== 0 && entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return JSON.parse(entry.json) as unknown;
  }

  async set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void> {
    if (options.signal.aborted) throw abortReason(options.signal);
    this.sets += 1;
    this.entries.set(key, { json: JSON.stringify(bundle), expiresAt: options.ttlMs === 0 ? 0 : Date.now() + options.ttlMs });
  }

  async delete(key: string, options: CacheCallOptions): Promise<void> {
    if (options.signal.aborted) throw abortReason(options.signal);
    this.deletes += 1;
    this.entries.delete(key);
  }
}
