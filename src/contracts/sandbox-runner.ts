import type { Language } from '../plan.js';

export interface SandboxOpenSpec {
  readonly executionId: string;
  readonly language: Language;
  /** Package specs to install when the session opens (validated: never start with `-`). */
  readonly dependencies: readonly string[];
  /** Extra environment for every command. The host's `process.env` is never passed on. */
  readonly env: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  /** Called once the dependencies are in place (installed, or reused from an earlier session). */
  readonly onDependenciesInstalled?: (info: DependenciesInstalledInfo) => void;
  /**
   * Tells the run about a weaker environment than asked for (no jail, no resource limits), so it
   * reaches the run's `warning` events and its bundle, not only the process. Codes are stable
   * (`ISOLATION_NONE`, …), messages are for people.
   */
  readonly onWarning?: (code: string, message: string) => void;
  /**
   * Whether the session will run the model's own tests, as the agent's sessions do: a runner may
   * prepare for them while the session waits (the local runner starts its warm standby). `false`
   * for a session that only runs acceptance tests, which always run cold (`verifyBundle`), so
   * nothing is prepared for nothing. Runners that prepare nothing ignore it.
   * @default true
   */
  readonly prepareTestRuns?: boolean;
}

/** What `preflight` checks the toolchain for: the same fields `open` gets, without creating anything. */
export interface SandboxPreflightSpec {
  readonly language: Language;
  readonly dependencies: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

export interface DependenciesInstalledInfo {
  count: number;
  durationMs: number;
  /** True when an earlier session's installation of the same set was reused. */
  reused: boolean;
}

export interface SandboxFile {
  /** Relative, normalised, already checked by the agent; runners check again. */
  readonly path: string;
  readonly content: string;
}

export interface RunOptions {
  /** Wall-clock limit; on expiry the whole process tree is killed and `timedOut` is true. */
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** Merged over the session's environment for this command only. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Optional: receives the command's output while it runs, as UTF-8 text (a character is never
   * split between two calls), in order within each stream. A runner that can stream calls it as
   * output arrives; one that cannot may call it once per stream with the (capped) output when the
   * command ends, or not at all. It is never called after `run` settles. The chunks are raw: the
   * caller bounds, throttles and scrubs them (the agent does, for its `tests:output` event). What
   * it throws is ignored. The returned `CommandResult` holds the output as it always does.
   */
  readonly onOutput?: (stream: OutputStream, chunk: string) => void;
}

/** Which output of a command a chunk belongs to. */
export type OutputStream = 'stdout' | 'stderr';

export interface CommandResult {
  /** `null` when the process was killed before it exited. */
  exitCode: number | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  timedOut: boolean;
  durationMs: number;
}

/**
 * One sandbox for all iterations of a run. Commands run with the workspace as working directory.
 *
 * The workspace is synced, not patched: after `sync(files)` it holds exactly those files, so a test
 * run sees one iteration's files and nothing an earlier run created (files tests wrote, caches,
 * `__pycache__`). What the runner installed for the session (dependencies) is not part of the
 * workspace and survives.
 */
export interface SandboxSession {
  readonly id: string;
  /**
   * The isolation the session's commands actually get, recorded in the bundle: e.g. `bwrap`,
   * `none` (resource limits only), `daytona` (a remote sandbox), `fake`.
   */
  readonly isolation?: string;
  /**
   * Makes the workspace hold exactly `files` (directories created as needed) and nothing else.
   * Every path is checked before anything changes; an unsafe path rejects with `PathSafetyError`.
   * A runner may defer the work to the next `run` (one round trip less) as long as `readFile` and
   * `run` observe the synced state.
   */
  sync(files: readonly SandboxFile[], options: { signal: AbortSignal }): Promise<void>;
  /** Runs argv directly (no shell) in the workspace. A non-zero exit is a result, not an error. */
  run(command: readonly string[], options: RunOptions): Promise<CommandResult>;
  /** Reads a workspace file as UTF-8, `undefined` when it does not exist. Capped by the runner. */
  readFile(path: string, options: { signal: AbortSignal }): Promise<string | undefined>;
  /** Releases everything the session holds. Idempotent; never throws. */
  close(): Promise<void>;
}

/**
 * Opens sandboxes. Implementations: `LocalSandboxRunner` (default), `DaytonaSandboxRunner`
 * (`ptc-agent/daytona`), `FakeSandboxRunner` (`ptc-agent/testing`), or your own.
 *
 * `open` creates the workspace and installs the dependencies; it throws a `SandboxError`
 * (`SANDBOX_OPEN_FAILED`, `DEPENDENCY_INSTALL_FAILED`, `TEST_PRESET_UNAVAILABLE`) on failure and
 * honours `spec.signal`, releasing whatever it had created.
 */
export interface SandboxRunner {
  /** Stable identity, e.g. `local`, `daytona`. */
  readonly id: string;
  /**
   * Optional: checks, without creating a session, that what a language's tests need is there
   * (interpreter, test framework, loaders, jail and limit tools), and rejects with a `SandboxError`
   * `TEST_PRESET_UNAVAILABLE` naming what is missing. The agent awaits it before the first model
   * call, so a broken setup costs no paid generation. Cache the answer: it is called every run.
   */
  preflight?(spec: SandboxPreflightSpec): Promise<void>;
  open(spec: SandboxOpenSpec): Promise<SandboxSession>;
}
