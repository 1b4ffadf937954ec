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
  Image,
  Resources,
  Sandbox,
} from '@daytonaio/sdk';
import type {
  CommandResult,
  RunOptions,
  SandboxFile,
  SandboxOpenSpec,
  SandboxRunner,
  SandboxSession,
} from '../contracts/sandbox-runner.js';
import { PTCTimeoutError, SandboxError, isPTCError } from '../errors.js';
import { abortReason, raceAbort, throwIfAborted, withTimeout } from '../internal/async.js';
import { normalizeRelativePath } from '../internal/paths.js';
import { Redactor } from '../internal/redact.js';
import { durationMs, rejectUnknownKeys } from '../internal/validate.js';
import { errorName, isConflict, isConnectionError, isNotFound, isProcessTimeout, isTransient, statusOf } from './daytona/errors.js';
import { tail } from '../internal/text.js';
import type { Language } from '../plan.js';
import {
  buildCommandScript,
  buildReadbackScript,
  needsScriptFile,
  parseFramedOutput,
  scriptFilePath,
  wrapScript,
  wrapScriptFile,
  type FramedOutput,
} from './daytona/command-script.js';
import { DependencySnapshots, SNAPSHOT_FAILED, dependencySnapshotName, type SnapshotPlan } from './daytona/snapshots.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const DAYTONA_SANDBOX_RUNNER_OPTION_NAMES = ['apiKey', 'apiUrl', 'target', 'client', 'snapshot', 'image', 'resources', 'autoStopIntervalMinutes', 'autoDeleteIntervalMinutes', 'labels', 'sandboxParams', 'createTimeoutMs', 'deleteTimeoutMs', 'requestTimeoutMs', 'installTimeoutMs', 'commandGraceMs', 'retries', 'retryDelayMs', 'useDeprecatedPolling', 'workspaceDir', 'maxOutputBytes', 'maxReadBytes', 'extraDependencies', 'installCommand', 'onWarning', 'dependencySnapshots', 'snapshotTimeoutMs'] as const satisfies readonly (keyof DaytonaSandboxRunnerOptions)[];

/** Label on every sandbox this runner creates; `sweepOrphans` deletes only sandboxes that carry it. */
export const DAYTONA_MARKER_LABEL = 'ptc-agent';
/** Label holding the (sanitised) execution id of the run that created the sandbox. */
export const DAYTONA_EXECUTION_LABEL = 'ptc-agent-execution';

/** Creation parameters passed through to Daytona (network policy, volumes, …). */
export type DaytonaSandboxParams = Omit<
  CreateSandboxBaseParams,
  'name' | 'language' | 'labels' | 'envVars' | 'autoStopInterval' | 'autoDeleteInterval' | 'ephemeral'
>;

export interface DaytonaSandboxRunnerOptions {
  /**
   * Daytona API key. Never appears in errors, events or warnings.
   * @default process.env.DAYTONA_API_KEY
   */
  apiKey?: string;
  /** @default process.env.DAYTONA_API_URL ?? 'https://app.daytona.io/api' */
  apiUrl?: string;
  /** Region of the sandboxes. @default process.env.DAYTONA_TARGET (else the organisation's default) */
  target?: string;
  /**
   * A Daytona client to use instead of building one (apiKey, apiUrl, target and
   * useDeprecatedPolling are then not allowed). It is never disposed by the runner. Build it with a
   * finite `requestTimeoutMs`: the runner bounds every call itself, but the SDK's default is 24 h.
   * @default undefined (the runner builds one at the first `open` and `dispose()` releases it)
   */
  client?: Daytona;
  /** Snapshot the sandboxes start from. Exclusive with `image`. @default Daytona's default snapshot */
  snapshot?: string;
  /** Image the sandboxes are built from (`'python:3.12-slim'` or an `Image`). Exclusive with `snapshot`. @default undefined */
  image?: string | Image;
  /** CPU (cores), memory and disk (GiB); only with `image`. @default Daytona's defaults */
  resources?: Resources;
  /** Minutes of inactivity after which Daytona stops a sandbox; `0` = never. @default 15 */
  autoStopIntervalMinutes?: number;
  /**
   * Minutes after stopping after which Daytona deletes a sandbox; `0` = as soon as it stops,
   * `-1` = never. With the auto-stop above this bounds how long a sandbox can outlive a crashed
   * host. @default 0
   */
  autoDeleteIntervalMinutes?: number;
  /** Extra labels on every sandbox (the `ptc-agent*` keys are reserved). @default {} */
  labels?: Readonly<Record<string, string>>;
  /** More creation parameters (networkBlockAll, domainAllowList, volumes, user, …). @default {} */
  sandboxParams?: DaytonaSandboxParams;
  /** Deadline of creating a sandbox and waiting until it has started, per attempt. @default 120000 */
  createTimeoutMs?: number;
  /** Deadline of one delete request. @default 30000 */
  deleteTimeoutMs?: number;
  /** Deadline of every other request (uploads, downloads, lookups, listing). @default 60000 */
  requestTimeoutMs?: number;
  /** Deadline of installing the dependencies at `open`. @default 300000 */
  installTimeoutMs?: number;
  /** How long past a command's own timeout to wait for the sandbox to answer. @default 10000 */
  commandGraceMs?: number;
  /** Extra attempts of calls that are safe to repeat (create, delete, reads, uploads) after a connection failure. @default 2 */
  retries?: number;
  /** Delay before the first retry, doubled for each further one. @default 250 */
  retryDelayMs?: number;
  /** Observe sandbox state by polling instead of the SDK's WebSocket. @default false */
  useDeprecatedPolling?: boolean;
  /** Sandbox directory (relative to its work directory) used as the workspace. @default 'ptc-workspace' */
  workspaceDir?: string;
  /** Kept of each of stdout and stderr per command, in bytes; the middle of longer output is cut in the sandbox. @default 1048576 */
  maxOutputBytes?: number;
  /** Largest file `readFile` accepts, in bytes. @default 10485760 */
  maxReadBytes?: number;
  /** Installed at every `open` in addition to the plan's dependencies, per language (e.g. `{ python: ['pytest'] }` for an image without pytest). @default {} */
  extraDependencies?: Partial<Record<Language, readonly string[]>>;
  /**
   * argv that installs packages in the workspace.
   * @default python: `python3 -m pip install --disable-pip-version-check --no-input --quiet …`;
   *   javascript/typescript: `npm install --no-audit --no-fund --loglevel=error …`
   */
  installCommand?: (language: Language, dependencies: readonly string[]) => readonly string[];
  /** Told about problems that do not fail a run (a sandbox that could not be deleted). @default process.emitWarning */
  onWarning?: (message: string, cause?: unknown) => void;
  /**
   * One Daytona snapshot per dependency set (named `ptc-deps-<language>-<hash>` from the language,
   * the sorted dependencies, the install command and the base image or snapshot): the first
   * session of a set installs and then snapshots its sandbox, later ones start from the snapshot
   * and install nothing. Concurrent sessions of one runner wait for the first one's snapshot. A
   * snapshot that cannot be made or used means a plain sandbox that installs, and a
   * `SNAPSHOT_FAILED` warning for the run. The snapshots stay in your Daytona organisation until
   * you delete them. `false`: every session installs its dependencies. @default true
   */
  dependencySnapshots?: boolean;
  /** Deadline of making a dependency snapshot, and of waiting for one another session is making. @default 300000 */
  snapshotTimeoutMs?: number;
}

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

interface Settings {
  snapshot: string | undefined;
  image: string | Image | undefined;
  resources: Resources | undefined;
  autoStopIntervalMinutes: number;
  autoDeleteIntervalMinutes: number;
  labels: Readonly<Record<string, string>>;
  sandboxParams: DaytonaSandboxParams;
  createTimeoutMs: number;
  deleteTimeoutMs: number;
  requestTimeoutMs: number;
  installTimeoutMs: number;
  commandGraceMs: number;
  retries: number;
  retryDelayMs: number;
  workspaceDir: string;
  outputDir: string;
  maxOutputBytes: number;
  maxReadBytes: number;
  extraDependencies: Partial<Record<Language, readonly string[]>>;
  installCommand: (language: Language, dependencies: readonly string[]) => readonly string[];
  warn: (message: string, cause?: unknown) => void;
  dependencySnapshots: boolean;
  snapshotTimeoutMs: number;
}

function defaultInstallCommand(language: Language, dependencies: readonly string[]): readonly string[] {
  if (language === 'python') {
    return ['python3', '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', ...dependencies];
  }
  return ['npm', 'install', '--no-audit', '--no-fund', '--loglevel=error', ...dependencies];
}

function booleanOption(name: string, value: boolean | undefined, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`DaytonaSandboxRunner: ${name} must be a boolean, got ${String(value)}`);
  return value;
}

function integerOption(name: string, value: number | undefined, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < minimum) throw new TypeError(`DaytonaSandboxRunner: ${name} must be an integer ≥ ${minimum}, got ${String(value)}`);
  return value;
}

/** Seconds for the SDK's per-call `timeout` parameters, never 0 (which would mean "no limit"). */
function toSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
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
    if (options === null || typeof options !== 'object') throw new TypeError('DaytonaSandboxRunner: options must be an object');
    rejectUnknownKeys('DaytonaSandboxRunner', options, DAYTONA_SANDBOX_RUNNER_OPTION_NAMES);
    const connectionKeys = (['apiKey', 'apiUrl', 'target', 'useDeprecatedPolling'] as const).filter((key) => options[key] !== undefined);
    if (options.client !== undefined) {
      if (typeof options.client !== 'object' || typeof options.client.create !== 'function') {
        throw new TypeError('DaytonaSandboxRunner: client must be a Daytona instance');
      }
      if (connectionKeys.length > 0) {
        throw new TypeError(`DaytonaSandboxRunner: ${connectionKeys[0]} cannot be combined with client (configure the client instead)`);
      }
    }
    const apiKey = options.apiKey ?? process.env.DAYTONA_API_KEY;
    if (options.client === undefined && (typeof apiKey !== 'string' || apiKey.length === 0)) {
      throw new TypeError('DaytonaSandboxRunner: apiKey is required (or set DAYTONA_API_KEY, or pass client)');
    }
    const apiUrl = options.apiUrl ?? process.env.DAYTONA_API_URL ?? 'https://app.daytona.io/api';
    try {
      new URL(apiUrl);
    } catch {
      throw new TypeError(`DaytonaSandboxRunner: apiUrl must be a URL, got ${JSON.stringify(apiUrl.slice(0, 200))}`);
    }
    if (options.snapshot !== undefined && options.image !== undefined) {
      throw new TypeError('DaytonaSandboxRunner: snapshot and image are exclusive');
    }
    if (options.resources !== undefined && options.image === undefined) {
      throw new TypeError('DaytonaSandboxRunner: resources needs image (Daytona sizes snapshots itself)');
    }
    const labels = { ...options.labels };
    for (const [key, value] of Object.entries(labels)) {
      if (key.startsWith(DAYTONA_MARKER_LABEL)) throw new TypeError(`DaytonaSandboxRunner: labels.${key} is reserved`);
      if (typeof value !== 'string') throw new TypeError(`DaytonaSandboxRunner: labels.${key} must be a string`);
    }
    let workspaceDir: string;
    try {
      workspaceDir = normalizeRelativePath(options.workspaceDir ?? 'ptc-workspace');
    } catch {
      throw new TypeError('DaytonaSandboxRunner: workspaceDir must be a safe relative path');
    }
    for (const name of ['installCommand', 'onWarning'] as const) {
      if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`DaytonaSandboxRunner: ${name} must be a function`);
    }
    const requestTimeoutMs = durationMs('DaytonaSandboxRunner: requestTimeoutMs', options.requestTimeoutMs, 60_000);
    this.settings = {
      snapshot: options.snapshot,
      image: options.image,
      resources: options.resources,
      autoStopIntervalMinutes: integerOption('autoStopIntervalMinutes', options.autoStopIntervalMinutes, 15, 0),
      autoDeleteIntervalMinutes: integerOption('autoDeleteIntervalMinutes', options.autoDeleteIntervalMinutes, 0, -1),
      labels,
      sandboxParams: { ...options.sandboxParams },
      createTimeoutMs: durationMs('DaytonaSandboxRunner: createTimeoutMs', options.createTimeoutMs, 120_000),
      deleteTimeoutMs: durationMs('DaytonaSandboxRunner: deleteTimeoutMs', options.deleteTimeoutMs, 30_000),
      requestTimeoutMs,
      installTimeoutMs: durationMs('DaytonaSandboxRunner: installTimeoutMs', options.installTimeoutMs, 300_000),
      commandGraceMs: durationMs('DaytonaSandboxRunner: commandGraceMs', options.commandGraceMs, 10_000, 0),
      retries: integerOption('retries', options.retries, 2, 0),
      retryDelayMs: durationMs('DaytonaSandboxRunner: retryDelayMs', options.retryDelayMs, 250, 0),
      workspaceDir,
      outputDir: '.ptc-agent-output',
      maxOutputBytes: integerOption('maxOutputBytes', options.maxOutputBytes, 1_048_576, 64),
      maxReadBytes: integerOption('maxReadBytes', options.maxReadBytes, 10_485_760, 1),
      extraDependencies: { ...options.extraDependencies },
      installCommand: options.installCommand ?? defaultInstallCommand,
      warn: options.onWarning ?? ((message) => process.emitWarning(message, { code: 'PTC_DAYTONA' })),
      dependencySnapshots: booleanOption('dependencySnapshots', options.dependencySnapshots, true),
      snapshotTimeoutMs: durationMs('DaytonaSandboxRunner: snapshotTimeoutMs', options.snapshotTimeoutMs, 300_000),
    };
    this.injectedClient = options.client;
    const target = options.target ?? process.env.DAYTONA_TARGET;
    this.clientConfig = {
      apiUrl,
      requestTimeoutMs,
      useDeprecatedPolling: options.useDeprecatedPolling ?? false,
      ...(apiKey === undefined ? {} : { apiKey }),
      ...(target === undefined ? {} : { target }),
    };
    this.redactor = new Redactor(apiKey === undefined ? [] : [apiKey]);
    this.snapshots = new DependencySnapshots({
      snapshotTimeoutMs: this.settings.snapshotTimeoutMs,
      requestTimeoutMs,
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

interface SessionInternals {
  settings: Settings;
  redactor: Redactor;
  retrying<T>(task: (signal: AbortSignal) => Promise<T>, timeoutMs: number, signal: AbortSignal, what: string): Promise<T>;
  deleteSandbox(sandbox: Sandbox): Promise<void>;
  toSandboxError(error: unknown, what: string, code: 'SANDBOX_OPEN_FAILED' | 'DEPENDENCY_INSTALL_FAILED' | 'SANDBOX_FAILED'): SandboxError;
  closed(session: DaytonaSandboxSession): void;
}

/**
 * Hands a finished command's output to `onOutput`, once per stream. The SDK could stream a
 * command's logs (session commands with `onStdout`/`onStderr`, over a WebSocket), but the runner
 * runs each command as one `executeCommand`, whose framed answer is what keeps stdout and stderr
 * apart, bounds them in the sandbox and turns a timeout into a result; so output arrives at the end.
 */
function deliverOutput(options: RunOptions, result: CommandResult): CommandResult {
  if (options.onOutput) {
    for (const stream of ['stdout', 'stderr'] as const) {
      try {
        if (result[stream] !== '') options.onOutput(stream, result[stream]);
      } catch {
        // The contract: what the listener throws is ignored.
      }
    }
  }
  return result;
}

type ExecuteOutcome = { kind: 'completed'; exitCode: number; result: string } | { kind: 'killed' } | { kind: 'unanswered' };

class DaytonaSandboxSession implements SandboxSession {
  readonly id: string;
  /** A Daytona sandbox of its own (a remote VM/container), deleted at close. */
  readonly isolation = 'daytona';
  private sequence = 0;
  /**
   * The last `sync`, until a command applies it: the files were uploaded to a staging directory
   * (one round trip), and the next command's script swaps them in before it runs (none extra).
   * `readFile` answers from here meanwhile.
   */
  private pendingSync: { stageDir: string | undefined; files: Map<string, string> } | undefined;
  private syncs = 0;
  /** What a sync keeps in the workspace: the installed node_modules of a node session, nothing else. */
  private keep: readonly string[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    private readonly sandbox: Sandbox,
    private readonly env: Readonly<Record<string, string>>,
    private readonly internals: SessionInternals,
  ) {
    this.id = sandbox.id;
  }

  /** Installs the dependencies, or (`fromSnapshot`) only takes note that the sandbox's snapshot holds them. */
  async installDependencies(spec: SandboxOpenSpec, dependencies: readonly string[], fromSnapshot = false): Promise<void> {
    const started = performance.now();
    if (dependencies.length > 0 && !fromSnapshot) {
      const bad = dependencies.find((dependency) => dependency.startsWith('-') || dependency.trim() === '');
      if (bad !== undefined) throw new SandboxError(`Refusing to install ${JSON.stringify(bad)}: not a package spec`, { code: 'DEPENDENCY_INSTALL_FAILED' });
      const argv = this.internals.settings.installCommand(spec.language, dependencies);
      let result: CommandResult;
      try {
        result = await this.run(argv, { timeoutMs: this.internals.settings.installTimeoutMs, signal: spec.signal });
      } catch (error) {
        if (spec.signal.aborted) throw abortReason(spec.signal);
        throw this.internals.toSandboxError(error, 'Installing the dependencies failed', 'DEPENDENCY_INSTALL_FAILED');
      }
      if (result.timedOut || result.exitCode !== 0) {
        const why = result.timedOut ? `timed out after ${this.internals.settings.installTimeoutMs} ms` : `exited with ${result.exitCode}`;
        const output = tail(`${result.stdout}\n${result.stderr}`.trim(), 2_000);
        throw new SandboxError(this.internals.redactor.text(`Installing ${dependencies.join(' ')} ${why}:\n${output}`), { code: 'DEPENDENCY_INSTALL_FAILED' });
      }
    }
    // npm installed into the workspace: that node_modules is the session's, and syncs keep it.
    if (dependencies.length > 0 && spec.language !== 'python') this.keep = ['node_modules'];
    spec.onDependenciesInstalled?.({ count: dependencies.length, durationMs: Math.round(performance.now() - started), reused: fromSnapshot });
  }

  async sync(files: readonly SandboxFile[], options: { signal: AbortSignal }): Promise<void> {
    this.assertOpen();
    const byPath = new Map<string, string>();
    for (const file of files) byPath.set(normalizeRelativePath(file.path), file.content);
    throwIfAborted(options.signal);
    const { outputDir, requestTimeoutMs } = this.internals.settings;
    this.syncs += 1;
    // A random name: code from an earlier command can write under the output directory, and a
    // predictable stage would let it plant files that the swap then copies into the workspace.
    const stageDir = byPath.size === 0 ? undefined : `${outputDir}/sync-${this.syncs}-${randomBytes(12).toString('hex')}`;
    if (stageDir !== undefined) {
      // Buffers, never strings: a string source is read as a path on the host (SDK-NOTES §2.3).
      const uploads = [...byPath].map(([path, content]) => ({ source: Buffer.from(content, 'utf8'), destination: `${stageDir}/${path}` }));
      try {
        // Re-uploading the same bytes is harmless, so a broken connection is retried.
        await this.internals.retrying(() => this.sandbox.fs.uploadFiles(uploads, toSeconds(requestTimeoutMs)), requestTimeoutMs, options.signal, 'Uploading files to the Daytona sandbox');
      } catch (error) {
        if (options.signal.aborted) throw abortReason(options.signal);
        throw this.internals.toSandboxError(error, `Uploading ${byPath.size} files to the Daytona sandbox failed`, 'SANDBOX_FAILED');
      }
    }
    this.pendingSync = { stageDir, files: byPath };
  }

  async run(command: readonly string[], options: RunOptions): Promise<CommandResult> {
    this.assertOpen();
    throwIfAborted(options.signal);
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new TypeError('run: timeoutMs must be a positive number');
    if (command.length === 0) throw new TypeError('run: the command is empty');
    const { settings } = this.internals;
    this.sequence += 1;
    const sequence = this.sequence;
    const nonce = randomBytes(12).toString('hex');
    const pendingSync = this.pendingSync;
    const scriptOptions = { workspaceDir: settings.workspaceDir, outputDir: settings.outputDir, sequence, nonce, maxOutputBytes: settings.maxOutputBytes };
    const script = buildCommandScript(command, {
      ...scriptOptions,
      ...(pendingSync ? { sync: { stageDir: pendingSync.stageDir, keep: this.keep } } : {}),
    });
    const env = { ...this.env, ...options.env };
    const started = performance.now();
    const commandLine = await this.commandLineFor(script, sequence, options.signal);
    const outcome = await this.execute(commandLine, env, options.timeoutMs, options.signal);
    const durationMs = Math.round(performance.now() - started);

    if (outcome.kind === 'unanswered') {
      // No answer at all: the command may still be running, and the sync may not have happened.
      return {
        exitCode: null,
        stdout: '',
        stderr: `[ptc-agent] the Daytona sandbox did not answer within ${options.timeoutMs + settings.commandGraceMs} ms; the command was abandoned`,
        stdoutTruncated: false,
        stderrTruncated: false,
        timedOut: true,
        durationMs,
      };
    }
    // The script ran (or was killed after it started the command): the sync is applied.
    if (this.pendingSync === pendingSync) this.pendingSync = undefined;
    if (outcome.kind === 'killed') {
      const partial = await this.readBack(scriptOptions, options.signal);
      const note = `[ptc-agent] killed after ${options.timeoutMs} ms (timeout)`;
      return deliverOutput(options, {
        exitCode: null,
        stdout: partial?.stdout ?? '',
        stderr: partial?.stderr ? `${partial.stderr}\n${note}` : note,
        stdoutTruncated: partial?.stdoutTruncated ?? false,
        stderrTruncated: partial?.stderrTruncated ?? false,
        timedOut: true,
        durationMs,
      });
    }
    const framed = parseFramedOutput(outcome.result, nonce, settings.maxOutputBytes);
    if (!framed) {
      throw new SandboxError(
        this.internals.redactor.text(`The Daytona sandbox could not run the command (exit code ${outcome.exitCode}): ${tail(outcome.result.trim(), 1_000) || 'no output'}`),
        { code: 'SANDBOX_FAILED' },
      );
    }
    return deliverOutput(options, {
      exitCode: framed.exitCode,
      stdout: framed.stdout,
      stderr: framed.stderr,
      stdoutTruncated: framed.stdoutTruncated,
      stderrTruncated: framed.stderrTruncated,
      timedOut: false,
      durationMs,
    });
  }

  async readFile(path: string, options: { signal: AbortSignal }): Promise<string | undefined> {
    this.assertOpen();
    const normalized = normalizeRelativePath(path);
    throwIfAborted(options.signal);
    if (this.pendingSync) return this.pendingSync.files.get(normalized);
    const { workspaceDir, requestTimeoutMs, maxReadBytes } = this.internals.settings;
    const remote = `${workspaceDir}/${normalized}`;
    try {
      return await this.internals.retrying(
        async (signal) => {
          // Streamed, so an oversized file is refused after maxReadBytes, not after buffering it all.
          const stream = await this.sandbox.fs.downloadFileStream(remote, { timeout: toSeconds(requestTimeoutMs), signal });
          const chunks: Buffer[] = [];
          let bytes = 0;
          try {
            for await (const chunk of stream as AsyncIterable<Buffer | string>) {
              const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
              bytes += buffer.length;
              if (bytes > maxReadBytes) throw new SandboxError(`${normalized} is larger than ${maxReadBytes} bytes (maxReadBytes)`, { code: 'OUTPUT_REJECTED' });
              chunks.push(buffer);
            }
          } finally {
            stream.destroy();
          }
          return Buffer.concat(chunks).toString('utf8');
        },
        requestTimeoutMs,
        options.signal,
        `Reading ${normalized} from the Daytona sandbox`,
      );
    } catch (error) {
      if (options.signal.aborted) throw abortReason(options.signal);
      if (isNotFound(error)) return undefined;
      throw this.internals.toSandboxError(error, `Reading ${normalized} from the Daytona sandbox failed`, 'SANDBOX_FAILED');
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.internals.deleteSandbox(this.sandbox);
      } catch (error) {
        this.internals.settings.warn(
          `ptc-agent could not delete Daytona sandbox ${this.id}; Daytona's auto-stop/auto-delete or sweepOrphans() will remove it`,
          error,
        );
      } finally {
        this.internals.closed(this);
      }
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw new SandboxError(`Daytona session ${this.id} is closed`, { code: 'SANDBOX_FAILED' });
  }

  /**
   * `sh -c '<script>'`, or, for a script too long for one exec argument (E2BIG), `sh '<file>'`
   * after uploading the script beside the command's output files. Like those files it is named
   * by the command's sequence number, so it is never reused, and it goes with the sandbox.
   */
  private async commandLineFor(script: string, sequence: number, signal: AbortSignal): Promise<string> {
    if (!needsScriptFile(script)) return wrapScript(script);
    const { outputDir, requestTimeoutMs } = this.internals.settings;
    const path = scriptFilePath(outputDir, sequence);
    // A Buffer, never a string: a string source is read as a path on the host (SDK-NOTES §2.3).
    const uploads = [{ source: Buffer.from(script, 'utf8'), destination: path }];
    try {
      // Re-uploading the same bytes is harmless, so a broken connection is retried.
      await this.internals.retrying(() => this.sandbox.fs.uploadFiles(uploads, toSeconds(requestTimeoutMs)), requestTimeoutMs, signal, 'Uploading a command script to the Daytona sandbox');
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      throw this.internals.toSandboxError(error, 'Uploading a command script to the Daytona sandbox failed', 'SANDBOX_FAILED');
    }
    return wrapScriptFile(path);
  }

  /**
   * One `executeCommand`. Never retried: a test run is not idempotent, and after a broken
   * connection its outcome is unknown.
   */
  private async execute(commandLine: string, env: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<ExecuteOutcome> {
    const seconds = toSeconds(timeoutMs);
    const deadlineMs = seconds * 1000 + this.internals.settings.commandGraceMs;
    try {
      const response = await withTimeout(
        () => this.sandbox.process.executeCommand(commandLine, undefined, env, seconds),
        deadlineMs,
        signal,
        'A command in the Daytona sandbox',
      );
      return { kind: 'completed', exitCode: response.exitCode, result: response.result ?? '' };
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      if (error instanceof PTCTimeoutError || errorName(error) === 'DaytonaConnectionTimeoutError') return { kind: 'unanswered' };
      if (isProcessTimeout(error)) return { kind: 'killed' };
      if (isPTCError(error)) throw error;
      throw this.internals.toSandboxError(error, 'Running a command in the Daytona sandbox failed (not retried: its outcome is unknown)', 'SANDBOX_FAILED');
    }
  }

  /** Best effort: what a killed command had written, capped like any output. */
  private async readBack(
    options: { workspaceDir: string; outputDir: string; sequence: number; nonce: string; maxOutputBytes: number },
    signal: AbortSignal,
  ): Promise<FramedOutput | undefined> {
    const nonce = randomBytes(12).toString('hex');
    const script = buildReadbackScript({ ...options, nonce });
    try {
      const timeoutMs = Math.min(10_000, this.internals.settings.requestTimeoutMs);
      const response = await withTimeout(
        () => this.sandbox.process.executeCommand(wrapScript(script), undefined, undefined, toSeconds(timeoutMs)),
        timeoutMs + 1_000,
        signal,
        'Reading back the output of a killed command',
      );
      return parseFramedOutput(response.result ?? '', nonce, options.maxOutputBytes);
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      return undefined;
    }
  }
}
