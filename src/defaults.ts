import type { ArtifactBundle } from './bundle.js';
import type { Cache, CacheCallOptions } from './contracts/cache.js';
import type { SandboxOpenSpec, SandboxPreflightSpec, SandboxRunner, SandboxSession } from './contracts/sandbox-runner.js';

/**
 * The adapters an agent uses when its options name none: `LocalSandboxRunner` and an in-memory
 * `KeyvCache`. Loaded on first use, not imported, so the engine does not depend on the adapters
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

/**
 * Its calls never hang (a Map behind Keyv, no I/O), so the agent skips the per-call timer for it
 * (src/run/cache.ts): the timer and its abort wiring cost more than the call.
 */
export class DefaultCache implements Cache {
  private cache: Cache | undefined;
  private loading: Promise<Cache> | undefined;

  private load(): Promise<Cache> {
    this.loading ??= import('./caches/keyv.js').then(({ KeyvCache }) => (this.cache = new KeyvCache()));
    return this.loading;
  }

  async get(key: string, options: CacheCallOptions): Promise<unknown> {
    return (this.cache ?? (await this.load())).get(key, options);
  }

  async set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void> {
    return (this.cache ?? (await this.load())).set(key, bundle, options);
  }

  async delete(key: string, options: CacheCallOptions): Promise<void> {
    return (this.cache ?? (await this.load())).delete(key, options);
  }
}
