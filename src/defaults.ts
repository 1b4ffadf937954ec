import type { SandboxOpenSpec, SandboxPreflightSpec, SandboxRunner, SandboxSession } from './contracts/sandbox-runner.js';

/**
 * The adapter an agent uses when its options name no runner: `LocalSandboxRunner`, loaded on
 * first use, not imported, so the engine does not depend on the adapter it defaults to (and a
 * user of another runner never loads the local one).
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
