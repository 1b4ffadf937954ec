/**
 * DaytonaSandboxRunner: the SandboxRunner contract on Daytona cloud sandboxes
 * (`ptc-agent/daytona`; needs the optional peer dependency `@daytonaio/sdk`).
 *
 * One sandbox per session: created at `open` (which the agent runs while the model writes its
 * first answer), dependencies installed there, every iteration's files written with one bulk
 * upload, every command run through one `executeCommand` whose framed result carries stdout and
 * stderr apart (see ./daytona/command-script.ts), files read back with a streamed download, the
 * sandbox deleted on `close` whatever happened. SDK traps handled here (SDK-NOTES.md §2): the
 * client is built lazily (its constructor opens a socket and reads dotenv files), every call has
 * an explicit deadline (the SDK's default is 24 h, and create/delete ignore `requestTimeoutMs`),
 * uploads pass Buffers (a string would be read as a local path), and a command past its timeout
 * arrives as an HTTP 408 error rather than an exit code.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  CreateSandboxBaseParams,
  CreateSandboxFromImageParams,
  CreateSandboxFromSnapshotParams,
  Daytona,
  DaytonaConfig,
  Sandbox,
} from '@daytonaio/sdk';
import type {
  SandboxOpenSpec,
  SandboxRunner,
  SandboxSession,
} from '../contracts/sandbox-runner.js';
import { PTCTimeoutError, SandboxError } from '../errors.js';
import { abortReason, raceAbort, throwIfAborted, withTimeout } from '../internal/async.js';
import { Redactor } from '../internal/redact.js';
import { isConflict, isConnectionError, isNotFound, isTransient, statusOf } from './daytona/errors.js';
import { tail } from '../internal/text.js';
import type { Language } from '../plan.js';
import { DaytonaSandboxSession, type SessionInternals } from './daytona/session.js';
import { DAYTONA_EXECUTION_LABEL, DAYTONA_MARKER_LABEL, type DaytonaSandboxRunnerOptions, type Settings, resolveDaytonaOptions, toSeconds } from './daytona/options.js';
import { DependencySnapshots, SNAPSHOT_FAILED, dependencySnapshotName, type SnapshotPlan } from './daytona/snapshots.js';

export {
  DAYTONA_EXECUTION_LABEL,
  DAYTONA_MARKER_LABEL,
  type DaytonaSandboxParams,
  type DaytonaSandboxRunnerOptions,
} from './daytona/options.js';

export interface SweepOrphansOptions {
  /** Only sandboxes created at least this long ago are deleted. */
  olderThanMs: number;
  /** @default no abort */
  signal?: AbortSignal;
}

export interface SweepOrphansResult {
  /** Ids of the sandboxes deleted. */
  deleted: string[];
  /** Sandboxes that could not be deleted. */
  failed: Array<{ id: string; error: SandboxError }>;
}


/** A label value Daytona accepts whatever the execution id looks like. */
function labelValue(text: string): string {
  const cleaned = text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return cleaned.slice(0, 63).replace(/[^A-Za-z0-9]+$/, '') || 'unknown';
}

function sandboxName(executionId: string): string {
  const slug = executionId.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24).replace(/-+$/, '');
  return `ptc-${slug || 'run'}-${randomBytes(4).toString('hex')}`;
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * Runs generated code in Daytona sandboxes, one sandbox per session.
 *
 * ```ts
 * import { DaytonaSandboxRunner } from 'ptc-agent/daytona';
 * const runner = new DaytonaSandboxRunner({ apiKey: process.env.DAYTONA_API_KEY });
 * const agent = new PTCAgent({ generator, runner });
 * // … on shutdown:
 * await runner.dispose();
 * ```
 */
export class DaytonaSandboxRunner implements SandboxRunner {
  readonly id = 'daytona';
  private readonly settings: Settings;
  private readonly injectedClient: Daytona | undefined;
  private readonly clientConfig: DaytonaConfig;
  private readonly redactor: Redactor;
  private clientPromise: Promise<Daytona> | undefined;
  private readonly background = new Set<Promise<void>>();
  private readonly sessions = new Set<DaytonaSandboxSession>();
  private disposed = false;
  private readonly snapshots: DependencySnapshots;

  constructor(options: DaytonaSandboxRunnerOptions = {}) {
    const resolved = resolveDaytonaOptions(options);
    this.settings = resolved.settings;
    this.injectedClient = resolved.client;
    this.clientConfig = resolved.clientConfig;
    this.redactor = new Redactor(resolved.secrets);
    this.snapshots = new DependencySnapshots({
      snapshotTimeoutMs: this.settings.snapshotTimeoutMs,
      requestTimeoutMs: this.settings.requestTimeoutMs,
      outputDir: this.settings.outputDir,
      retrying: (task, timeoutMs, signal, what) => this.retrying(task, timeoutMs, signal, what),
      scrub: (text) => this.redactor.text(text),
    });
  }

  async open(spec: SandboxOpenSpec): Promise<SandboxSession> {
    throwIfAborted(spec.signal);
    if (this.disposed) throw new SandboxError('DaytonaSandboxRunner: the runner was disposed', { code: 'SANDBOX_OPEN_FAILED' });
    const client = await raceAbort(this.client(), spec.signal);
    const dependencies = this.dependenciesFor(spec);
    const warn = (code: string, message: string) => (spec.onWarning ? spec.onWarning(code, message) : this.settings.warn(message));
    const plan: SnapshotPlan =
      this.settings.dependencySnapshots && dependencies.length > 0 ? await this.snapshots.plan(client, this.snapshotName(spec.language, dependencies), spec.signal, warn) : { kind: 'plain' };
    let sandbox: Sandbox | undefined;
    if (plan.kind === 'use') {
      try {
        sandbox = await this.createSandbox(client, spec, plan.name);
      } catch (error) {
        if (spec.signal.aborted) throw abortReason(spec.signal);
        this.snapshots.forget(plan.name);
        const why = error instanceof Error ? error.message : String(error);
        warn(SNAPSHOT_FAILED, this.redactor.text(`starting from the dependency snapshot ${plan.name} failed (${tail(why, 500)}); the dependencies are installed in a plain sandbox`));
      }
    }
    const fromSnapshot = sandbox !== undefined;
    try {
      sandbox ??= await this.createSandbox(client, spec);
    } catch (error) {
      if (plan.kind === 'create') plan.abandon();
      throw error;
    }
    const session = new DaytonaSandboxSession(sandbox, spec.env, this.internals());
    this.sessions.add(session);
    try {
      await session.installDependencies(spec, dependencies, fromSnapshot);
      if (plan.kind === 'create') await plan.capture(sandbox, spec.signal);
      return session;
    } catch (error) {
      if (plan.kind === 'create') plan.abandon();
      if (spec.signal.aborted) {
        // Answer the abort at once; the delete finishes in the background (`dispose()` awaits it).
        this.track(session.close());
        throw abortReason(spec.signal);
      }
      await session.close();
      throw error;
    }
  }

  /**
   * Deletes sandboxes labelled as ptc-agent's that were created more than `olderThanMs` ago and
   * belong to no open session of this runner: leftovers of crashed hosts. Run it from a cron or
   * at startup; sandboxes of other live processes younger than the age are left alone.
   */
  async sweepOrphans(options: SweepOrphansOptions): Promise<SweepOrphansResult> {
    if (!Number.isFinite(options?.olderThanMs) || options.olderThanMs < 0) {
      throw new TypeError('DaytonaSandboxRunner.sweepOrphans: olderThanMs must be a number ≥ 0');
    }
    const signal = options.signal ?? NEVER_ABORTED;
    throwIfAborted(signal);
    const client = await raceAbort(this.client(), signal);
    const cutoff = Date.now() - options.olderThanMs;
    const open = new Set([...this.sessions].map((session) => session.id));
    const candidates: Sandbox[] = [];
    const iterator = client.list({ labels: { [DAYTONA_MARKER_LABEL]: 'true' }, createdAtBefore: new Date(cutoff) });
    try {
      for (;;) {
        const next = await withTimeout(() => iterator.next(), this.settings.requestTimeoutMs, signal, 'Listing Daytona sandboxes');
        if (next.done) break;
        const sandbox = next.value;
        const createdAt = sandbox.createdAt === undefined ? Number.NaN : Date.parse(sandbox.createdAt);
        // Filtered again here: a server that ignores a filter must not make us delete too much.
        if (sandbox.labels?.[DAYTONA_MARKER_LABEL] !== 'true' || !(createdAt <= cutoff) || open.has(sandbox.id)) continue;
        candidates.push(sandbox);
      }
    } catch (error) {
      void iterator.return?.(undefined)?.catch(() => {});
      if (signal.aborted) throw abortReason(signal);
      throw this.toSandboxError(error, 'Listing Daytona sandboxes failed', 'SANDBOX_FAILED');
    }
    const result: SweepOrphansResult = { deleted: [], failed: [] };
    for (const sandbox of candidates) {
      throwIfAborted(signal);
      try {
        await this.deleteSandbox(sandbox);
        result.deleted.push(sandbox.id);
      } catch (error) {
        result.failed.push({ id: sandbox.id, error: this.toSandboxError(error, `Deleting sandbox ${sandbox.id} failed`, 'SANDBOX_FAILED') });
      }
    }
    return result;
  }

  /**
   * Closes the open sessions, waits for background deletions (of sandboxes whose `open` was
   * aborted), and releases the Daytona client if the runner built it. Idempotent.
   */
  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.allSettled([...this.sessions].map((session) => session.close()));
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    const clientPromise = this.clientPromise;
    this.clientPromise = undefined;
    if (clientPromise) {
      const client = await clientPromise.catch(() => undefined);
      await client?.[Symbol.asyncDispose]().catch(() => {});
    }
  }

  // ---------------------------------------------------------------------------------------------

  private client(): Promise<Daytona> {
    if (this.injectedClient) return Promise.resolve(this.injectedClient);
    if (!this.clientPromise) {
      const promise = (async () => {
        let sdk: typeof import('@daytonaio/sdk');
        try {
          sdk = await import('@daytonaio/sdk');
        } catch (error) {
          throw new SandboxError('DaytonaSandboxRunner needs the optional peer dependency @daytonaio/sdk (npm install @daytonaio/sdk)', {
            code: 'SANDBOX_OPEN_FAILED',
            cause: error,
          });
        }
        try {
          return new sdk.Daytona(this.clientConfig);
        } catch (error) {
          throw this.toSandboxError(error, 'Configuring the Daytona client failed', 'SANDBOX_OPEN_FAILED');
        }
      })();
      this.clientPromise = promise;
      // A failed build is not cached: the next open tries again.
      promise.catch(() => {
        if (this.clientPromise === promise) this.clientPromise = undefined;
      });
    }
    return this.clientPromise;
  }

  private dependenciesFor(spec: SandboxOpenSpec): string[] {
    const all = [...(this.settings.extraDependencies[spec.language] ?? []), ...spec.dependencies];
    return [...new Set(all)];
  }

  /** The dependency snapshot name of a set, from everything that makes what is installed. */
  private snapshotName(language: Language, dependencies: readonly string[]): string {
    const { image, snapshot } = this.settings;
    const sorted = [...dependencies].sort();
    return dependencySnapshotName({
      language,
      dependencies: sorted,
      installCommand: this.settings.installCommand(language, sorted),
      base: { ...(image === undefined ? {} : { image: typeof image === 'string' ? image : image.dockerfile }), ...(snapshot === undefined ? {} : { snapshot }) },
    });
  }

  private createParams(spec: SandboxOpenSpec, name: string, dependencySnapshot?: string): CreateSandboxFromImageParams | CreateSandboxFromSnapshotParams {
    const base: CreateSandboxBaseParams = {
      ...this.settings.sandboxParams,
      name,
      language: spec.language,
      // A fresh object per attempt: the SDK adds its language label to the one it is given.
      labels: { ...this.settings.labels, [DAYTONA_MARKER_LABEL]: 'true', [DAYTONA_EXECUTION_LABEL]: labelValue(spec.executionId) },
      autoStopInterval: this.settings.autoStopIntervalMinutes,
      autoDeleteInterval: this.settings.autoDeleteIntervalMinutes,
    };
    // The dependency snapshot was made from the configured image or snapshot: it replaces them.
    if (dependencySnapshot !== undefined) return { ...base, snapshot: dependencySnapshot };
    if (this.settings.image !== undefined) {
      return { ...base, image: this.settings.image, ...(this.settings.resources ? { resources: this.settings.resources } : {}) };
    }
    return this.settings.snapshot === undefined ? base : { ...base, snapshot: this.settings.snapshot };
  }

  /**
   * Creates the sandbox, retrying after connection failures. Every attempt uses the same name, so
   * a request that reached Daytona before its connection broke is found (and adopted) instead of
   * leaking a second sandbox. Whatever an abandoned attempt may still create is deleted.
   */
  private async createSandbox(client: Daytona, spec: SandboxOpenSpec, dependencySnapshot?: string): Promise<Sandbox> {
    const name = sandboxName(spec.executionId);
    const { createTimeoutMs, retries } = this.settings;
    for (let attempt = 0; ; attempt += 1) {
      const params = this.createParams(spec, name, dependencySnapshot);
      const options = { timeout: toSeconds(createTimeoutMs) };
      const pending = 'image' in params ? client.create(params, options) : client.create(params, options);
      try {
        return await withTimeout(() => pending, createTimeoutMs, spec.signal, 'Creating a Daytona sandbox');
      } catch (error) {
        const abandoned = spec.signal.aborted || error instanceof PTCTimeoutError;
        if (abandoned) {
          // The request may still succeed on Daytona's side: delete whatever it produces.
          pending.then((late) => this.track(this.deleteQuietly(late)), () => {});
          this.track(this.reap(client, name));
          if (spec.signal.aborted) throw abortReason(spec.signal);
          throw new SandboxError(`Creating a Daytona sandbox timed out after ${createTimeoutMs} ms`, { code: 'SANDBOX_OPEN_FAILED', cause: error });
        }
        if (attempt > 0 && isConflict(error)) {
          const existing = await this.findByName(client, name, spec.signal);
          if (existing) return this.adopt(existing, spec.signal);
        }
        if (!isTransient(error) || attempt >= retries) {
          if (isConnectionError(error)) this.track(this.reap(client, name));
          throw this.toSandboxError(error, 'Creating a Daytona sandbox failed', 'SANDBOX_OPEN_FAILED');
        }
        const existing = await this.findByName(client, name, spec.signal);
        if (existing) return this.adopt(existing, spec.signal);
        await this.backoff(attempt, spec.signal);
      }
    }
  }

  private async adopt(sandbox: Sandbox, signal: AbortSignal): Promise<Sandbox> {
    if (sandbox.state === 'started') return sandbox;
    try {
      await withTimeout(() => sandbox.waitUntilStarted(toSeconds(this.settings.createTimeoutMs)), this.settings.createTimeoutMs, signal, 'Starting a Daytona sandbox');
      return sandbox;
    } catch (error) {
      this.track(this.deleteQuietly(sandbox));
      if (signal.aborted) throw abortReason(signal);
      throw this.toSandboxError(error, 'The Daytona sandbox did not start', 'SANDBOX_OPEN_FAILED');
    }
  }

  /** The sandbox of that name, `undefined` when there is none or the lookup fails. */
  private async findByName(client: Daytona, name: string, signal: AbortSignal): Promise<Sandbox | undefined> {
    try {
      return await this.retrying(() => client.get(name), this.settings.requestTimeoutMs, signal, 'Looking up a Daytona sandbox');
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      return undefined;
    }
  }

  /** Deletes the sandbox of that name if an abandoned create produced it. */
  private async reap(client: Daytona, name: string): Promise<void> {
    const sandbox = await this.findByName(client, name, NEVER_ABORTED);
    if (sandbox) await this.deleteQuietly(sandbox);
  }

  private async deleteQuietly(sandbox: Sandbox): Promise<void> {
    try {
      await this.deleteSandbox(sandbox);
    } catch (error) {
      this.settings.warn(`ptc-agent could not delete Daytona sandbox ${sandbox.id}; Daytona's auto-stop/auto-delete or sweepOrphans() will remove it`, error);
    }
  }

  /** Deletes with retries; a sandbox that is already gone counts as deleted. */
  private async deleteSandbox(sandbox: Sandbox): Promise<void> {
    const { deleteTimeoutMs } = this.settings;
    try {
      await this.retrying(() => sandbox.delete(toSeconds(deleteTimeoutMs)), deleteTimeoutMs, NEVER_ABORTED, `Deleting Daytona sandbox ${sandbox.id}`);
    } catch (error) {
      if (isNotFound(error)) return;
      throw this.toSandboxError(error, `Deleting Daytona sandbox ${sandbox.id} failed`, 'SANDBOX_FAILED');
    }
  }

  /** Runs an idempotent call with a deadline per attempt, retrying transient failures. */
  private async retrying<T>(task: (signal: AbortSignal) => Promise<T>, timeoutMs: number, signal: AbortSignal, what: string): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await withTimeout(task, timeoutMs, signal, what);
      } catch (error) {
        if (signal.aborted || !isTransient(error) || attempt >= this.settings.retries) throw error;
        await this.backoff(attempt, signal);
      }
    }
  }

  private async backoff(attempt: number, signal: AbortSignal): Promise<void> {
    try {
      await sleep(this.settings.retryDelayMs * 2 ** attempt, undefined, { signal });
    } catch {
      throw abortReason(signal);
    }
  }

  private track(task: Promise<void>): void {
    const tracked = task.catch(() => {}).finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }

  private toSandboxError(
    error: unknown,
    what: string,
    code: 'SANDBOX_OPEN_FAILED' | 'DEPENDENCY_INSTALL_FAILED' | 'SANDBOX_FAILED',
  ): SandboxError {
    if (error instanceof SandboxError) return error;
    let detail: string;
    if (error instanceof PTCTimeoutError) detail = error.message;
    else if (error instanceof Error) detail = `${error.name}${statusOf(error) === undefined ? '' : ` ${statusOf(error)}`}: ${error.message}`;
    else detail = String(error);
    return new SandboxError(this.redactor.text(`${what}: ${tail(detail, 1_000)}`), { code, cause: error });
  }

  private internals(): SessionInternals {
    return {
      settings: this.settings,
      redactor: this.redactor,
      retrying: (task, timeoutMs, signal, what) => this.retrying(task, timeoutMs, signal, what),
      deleteSandbox: (sandbox) => this.deleteSandbox(sandbox),
      toSandboxError: (error, what, code) => this.toSandboxError(error, what, code),
      closed: (session) => this.sessions.delete(session),
    };
  }
}
