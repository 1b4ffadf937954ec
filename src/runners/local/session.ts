import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { CommandResult, RunOptions, SandboxFile, SandboxSession } from '../../contracts/sandbox-runner.js';
import { isPTCError, SandboxError } from '../../errors.js';
import { abortReason, throwIfAborted } from '../../internal/async.js';
import type { ResourceLimits } from './isolation.js';
import { Standby, type StandbyHandle, type WarmPlan } from './standby.js';
import { removeTree, type Workspace } from './workspace.js';

/** One command as the runner launches it. */
export interface ExecuteOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  readonly jail: { workspace: string; readOnlyPaths: readonly string[]; writablePaths: readonly string[]; network: boolean } | undefined;
  readonly limits: ResourceLimits | undefined;
  /** Receives the output as it arrives (see `RunOptions.onOutput`). */
  readonly onOutput?: RunOptions['onOutput'];
}

/** What a session gets from the runner that opened it. */
export interface SessionSetup {
  workspace: Workspace;
  /** Removed on close: the workspace itself, or (warm sessions) the private directory holding it. */
  sessionDirectory: string;
  /**
   * Set for warm sessions (Python, node:test): how to start a standby, and the request a command
   * becomes in it (undefined: the command runs cold).
   */
  warm?: { start: () => Promise<StandbyHandle>; plan: (argv: readonly string[], cwd: string, syncedPaths: readonly string[]) => WarmPlan | undefined };
  env: Readonly<Record<string, string>>;
  readOnlyPaths: readonly string[];
  jailed: boolean;
  execute: (argv: readonly string[], options: ExecuteOptions) => Promise<CommandResult>;
  /** argv as the runner runs it: resolved executable, pytest plugins. */
  prepare: (command: readonly string[]) => string[];
  maxReadFileBytes: number;
  limits: ResourceLimits;
}

export class LocalSandboxSession implements SandboxSession {
  readonly id = `local-${randomBytes(8).toString('hex')}`;
  readonly isolation: 'bwrap' | 'none';
  private closed = false;
  private closing: Promise<void> | undefined;
  // Aborted by close(): running commands are killed before the workspace goes.
  private readonly lifetime = new AbortController();
  private readonly running = new Set<Promise<unknown>>();
  /** The next warm standby, started ahead of the run that will use it. */
  private standby: Promise<Standby | undefined> | undefined;
  /** Paths of the last sync while no run has happened since: only such a run may be warm. */
  private syncedPaths: string[] | undefined;
  /** The files of the last sync, while a run may still be warm: a warm run that dies midway is re-run cold from them. */
  private syncedFiles: readonly SandboxFile[] | undefined;
  /** How many runs used a warm standby (for tests and benchmarks; not part of SandboxSession). */
  warmRuns = 0;
  /** How many warm runs were killed midway and re-run cold (for tests; not part of SandboxSession). */
  warmRetries = 0;

  constructor(private readonly setup: SessionSetup) {
    this.isolation = setup.jailed ? 'bwrap' : 'none';
    // Started now, so it loads its framework while the model writes the first iteration.
    this.prime();
  }

  async sync(files: readonly SandboxFile[], options: { signal: AbortSignal }): Promise<void> {
    this.assertOpen();
    this.syncedPaths = undefined;
    this.syncedFiles = undefined;
    await this.guard(async () => {
      // A warm run's jail binds the directory holding the workspace (writable, it is the bind
      // mount's root): whatever a run left there beside the workspace goes, as the workspace does.
      if (this.setup.warm) await clearBeside(this.setup.sessionDirectory, this.setup.workspace.root);
      await this.setup.workspace.sync(files, options.signal);
    }, 'sync files');
    this.syncedPaths = files.map((file) => file.path);
    if (this.setup.warm) this.syncedFiles = [...files];
  }

  async readFile(path: string, options: { signal: AbortSignal }): Promise<string | undefined> {
    this.assertOpen();
    return this.guard(() => this.setup.workspace.readFile(path, this.setup.maxReadFileBytes, options.signal), 'read a file');
  }

  async run(command: readonly string[], options: RunOptions): Promise<CommandResult> {
    this.assertOpen();
    if (!Array.isArray(command) || command.length === 0 || command.some((part) => typeof part !== 'string' || part.includes('\u0000'))) {
      throw new SandboxError('run needs a non-empty argv of strings without NUL characters');
    }
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new SandboxError(`run needs a positive timeoutMs, got ${options.timeoutMs}`);
    throwIfAborted(options.signal);
    const signal = AbortSignal.any([options.signal, this.lifetime.signal]);
    const root = this.setup.workspace.root;
    const argv = this.setup.prepare(command);
    const syncedPaths = this.syncedPaths;
    const syncedFiles = this.syncedFiles;
    this.syncedPaths = undefined;
    this.syncedFiles = undefined;
    const pending = (async () => {
      try {
        const warm = syncedPaths && syncedFiles ? await this.runWarm(argv, syncedPaths, syncedFiles, options, signal) : undefined;
        if (warm) return warm;
        return await this.setup.execute(argv, {
          cwd: root,
          env: { ...this.setup.env, ...(options.env ?? {}) },
          timeoutMs: options.timeoutMs,
          signal,
          jail: this.setup.jailed ? { workspace: root, readOnlyPaths: this.setup.readOnlyPaths, writablePaths: [], network: false } : undefined,
          limits: this.setup.limits,
          ...(options.onOutput ? { onOutput: options.onOutput } : {}),
        });
      } finally {
        // The next run's standby loads while this run's result is read and the model writes.
        this.prime();
      }
    })();
    this.running.add(pending);
    try {
      return await pending;
    } catch (error) {
      if (options.signal.aborted) throw abortReason(options.signal);
      if (isPTCError(error)) throw error;
      throw new SandboxError(`Could not run ${command[0]}`, { cause: error });
    } finally {
      this.running.delete(pending);
    }
  }

  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      this.lifetime.abort(new SandboxError('the session was closed'));
      await Promise.allSettled([...this.running]);
      const standby = this.standby;
      this.standby = undefined;
      await standby?.then((ready) => ready?.discard()).catch(() => {});
      // removeTree: a test may have locked a directory (chmod 000), which a plain rm cannot enter.
      await removeTree(this.setup.sessionDirectory).catch(() => {});
    })();
    return this.closing;
  }

  /** Starts the next standby of a warm session, unless one is waiting or the session is closed. */
  private prime(): void {
    if (!this.setup.warm || this.closed || this.standby) return;
    this.standby = this.setup.warm.start().then(
      (handle) => new Standby(handle),
      // A standby that cannot start only means cold runs; the cold run will report the problem.
      () => undefined,
    );
  }

  /**
   * The run in the waiting standby, or `undefined` for a cold run: the command is not one the
   * standby can be (see `plan`), its env changes the session's, or the standby declines (see
   * Standby.run). A standby taken is never reused.
   */
  private async runWarm(
    argv: readonly string[],
    syncedPaths: readonly string[],
    syncedFiles: readonly SandboxFile[],
    options: RunOptions,
    signal: AbortSignal,
  ): Promise<CommandResult | undefined> {
    const warm = this.setup.warm;
    if (!warm || !this.standby) return undefined;
    const plan = warm.plan(argv, this.setup.workspace.root, syncedPaths);
    // The standby started with the session's environment: the interpreter reads some of it at start-up.
    const sameEnvironment = Object.entries(options.env ?? {}).every(([name, value]) => this.setup.env[name] === value);
    if (!plan || !sameEnvironment) return undefined;
    const taken = this.standby;
    this.standby = undefined;
    const standby = await taken;
    if (!standby) return undefined;
    try {
      const result = await standby.run({
        ...plan,
        timeoutMs: options.timeoutMs,
        signal,
        ...(options.onOutput ? { onOutput: options.onOutput } : {}),
      });
      if (result) {
        this.warmRuns += 1;
        return result;
      }
      if (standby.started) {
        // Its tests may have written to the workspace: the cold run starts from the synced files,
        // as the warm one did.
        this.warmRetries += 1;
        await clearBeside(this.setup.sessionDirectory, this.setup.workspace.root);
        await this.setup.workspace.sync(syncedFiles, signal);
      }
      return undefined;
    } catch (error) {
      await standby.discard();
      throw error;
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new SandboxError('the session is closed');
  }

  private async guard<T>(operation: () => Promise<T>, what: string): Promise<T> {
    // Tracked like commands: close() waits for a sync or read in flight before it removes the
    // workspace, or the operation would recreate folders (.ptc/tmp) after the removal.
    const pending = operation();
    this.running.add(pending);
    try {
      return await pending;
    } catch (error) {
      if (isPTCError(error)) throw error;
      throw new SandboxError(`Could not ${what} in the workspace: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
    } finally {
      this.running.delete(pending);
    }
  }
}

/** Removes everything in `directory` but `keep` (a path inside it). */
async function clearBeside(directory: string, keep: string): Promise<void> {
  for (const entry of await readdir(directory)) {
    const path = join(directory, entry);
    if (path !== keep) await removeTree(path);
  }
}

