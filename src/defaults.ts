import type { ArtifactBundle } from './bundle.js';
import type { Cache, CacheCallOptions } from './contracts/cache.js';
import type { SandboxOpenSpec, SandboxRunner, SandboxSession } from './contracts/sandbox-runner.js';

/**
 * The adapters an agent uses when its options name none: `LocalSandboxRunner` and an in-memory
 * `KeyvCache`. Loaded on first use, not imported, so the engine does not depend on the adapters
 * it defaults to (and a user of another runner never loads the local one).
 */
export class DefaultRunner implements SandboxRunner {
  readonly id = 'local';
  private runner: Promise<SandboxRunner> | undefined;

  open(spec: SandboxOpenSpec): Promise<SandboxSession> {
    this.runner ??= import('./runners/local.js').then(({ LocalSandboxRunner }) => new LocalSandboxRunner());
    return this.runner.then((runner) => runner.open(spec));
  }
}

export class DefaultCache implements Cache {
  private cache: Promise<Cache> | undefined;

  private load(): Promise<Cache> {
    this.cache ??= import('./caches/keyv.js').then(({ KeyvCache }) => new KeyvCache());
    return this.cache;
  }

  async get(key: string, options: CacheCallOptions): Promise<unknown> {
    return (await this.load()).get(key, options);
  }

  async set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void> {
    return (await this.load()).set(key, bundle, options);
  }

  async delete(key: string, options: CacheCallOptions): Promise<void> {
    return (await this.load()).delete(key, options);
  }
}
