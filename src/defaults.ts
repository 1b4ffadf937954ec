import type { ArtifactBundle } from './bundle.js';
import type { Cache, CacheCallOptions } from './contracts/cache.js';
import type { SandboxOpenSpec, SandboxPreflightSpec, SandboxRunner, SandboxSession } from './contracts/sandbox-runner.js';

/**
 * The adapters an agent uses when its options name none: `LocalSandboxRunner` and an in-memory
 * `LruCache`. Loaded on first use, not imported, so the engine does not depend on the adapters
 * it defaults to (and a user of another runner never loads the local one).
 */
export class DefaultRunner implements SandboxRunner {
  readonly id = 'local';
  private runner: Promise<SandboxRunner> | undefined;

  open(spec: SandboxOpenSpec): Promise<SandboxSession> {
    return this.load().then((runner) => runner.open(spec));
  }

  preflight(spec: SandboxPreflightSpec): Promise<void> {
    return this.load().then((runner) => runner.preflight?.(spec));
  }

  private load(): Promise<SandboxRunner> {
    this.runner ??= import('./runners/local.js').then(({ LocalSandboxRunner }) => new LocalSandboxRunner());
    return this.runner;
  }
}

/** An `LruCache` with its defaults, loaded on first use. */
export class DefaultCache implements Cache {
  /** As `LruCache`: memory only, called without a per-call timeout. */
  readonly inProcess = true;
  private cache: Cache | undefined;
  private loading: Promise<Cache> | undefined;

  private load(): Promise<Cache> {
    this.loading ??= import('./caches/lru.js').then(({ LruCache }) => (this.cache = new LruCache()));
    return this.loading;
  }

  // Not async: once loaded, a call is the cache's own promise, with no extra hop.
  get(key: string, options: CacheCallOptions): Promise<unknown> {
    return this.cache ? this.cache.get(key, options) : this.load().then((cache) => cache.get(key, options));
  }

  set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void> {
    return this.cache ? this.cache.set(key, bundle, options) : this.load().then((cache) => cache.set(key, bundle, options));
  }

  delete(key: string, options: CacheCallOptions): Promise<void> {
    return this.cache ? this.cache.delete(key, options) : this.load().then((cache) => cache.delete(key, options));
  }
}
