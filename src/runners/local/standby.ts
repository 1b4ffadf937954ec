import type { CommandResult } from '../../contracts/sandbox-runner.js';
import type { LaunchedProcess, OutputListener } from './process.js';

/**
 * A warm standby (`warmPython`, `warmNode`): a single-use process per session, started in the
 * jail and under the limits a test command gets, that has already loaded its test framework and
 * waits for one request on file descriptor 3. The protocol, the same for every language:
 * - the standby writes `ready <JSON array of names>` once loaded (the names of what it imported,
 *   which the workspace must not shadow; `[]` when nothing can be shadowed);
 * - the runner writes one line of JSON, the request;
 * - the standby answers `go` and closes fd 3 before any workspace code runs, or `cold` (it cannot
 *   be what the cold command would be) and exits.
 * Whatever makes a run differ from the cold one goes cold instead.
 */

export interface StandbyHandle {
  readonly process: LaunchedProcess;
  /** Releases what the launch holds besides the process (a pids cgroup); kills what is left. */
  dispose(): Promise<void>;
}

/** What a session asks a standby to run, once the command is known to be warmable. */
export interface WarmPlan {
  /** The request line's JSON, as the standby's bootstrap reads it. */
  readonly message: Readonly<Record<string, unknown>>;
  /** True when a name the standby reported as imported makes this run cold (the workspace shadows it). */
  readonly conflicts?: (imported: ReadonlySet<string>) => boolean;
  /**
   * The exit code by which a standby says, after `go`, that this run was not what a cold one
   * would have been (a node test file that did not load, or held no test): it is re-run cold.
   */
  readonly retryExitCode?: number;
}

export interface WarmRequest extends WarmPlan {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** Receives the run's output as it arrives (see `RunOptions.onOutput`). */
  readonly onOutput?: OutputListener;
}

/** How long a run waits for its standby to finish loading before it goes cold. */
const READY_WAIT_MS = 20_000;
/** How long a ready standby may take to acknowledge a request before the run goes cold. */
const ACK_WAIT_MS = 5_000;

/** One standby process: used by one run at most, then gone. */
export class Standby {
  private readonly ready: Promise<Set<string> | undefined>;
  private readonly acknowledged: Promise<boolean>;
  private used = false;
  /**
   * Set once the standby acknowledged a request: from then on it may have run tests, so a run
   * that goes cold after that starts from the synced files again (see LocalSandboxSession).
   */
  started = false;

  constructor(private readonly handle: StandbyHandle) {
    const control = handle.process.control;
    let onReady: (names: Set<string> | undefined) => void = () => {};
    let onAck: (ok: boolean) => void = () => {};
    this.ready = new Promise((resolve) => (onReady = resolve));
    this.acknowledged = new Promise((resolve) => (onAck = resolve));
    if (!control) {
      onReady(undefined);
      onAck(false);
      return;
    }
    let buffered = '';
    control.setEncoding('utf8');
    control.on('data', (chunk: string) => {
      buffered += chunk;
      // A standby that floods its channel is not one we trust.
      if (buffered.length > 1_000_000) {
        onReady(undefined);
        onAck(false);
        handle.process.kill();
        return;
      }
      let newline;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith('ready ')) {
          try {
            const names: unknown = JSON.parse(line.slice('ready '.length));
            onReady(Array.isArray(names) && names.every((name) => typeof name === 'string') ? new Set(names as string[]) : undefined);
          } catch {
            onReady(undefined);
          }
        } else if (line === 'go') {
          onAck(true);
        } else if (line === 'cold') {
          onAck(false);
        }
      }
    });
    const gone = () => {
      onReady(undefined);
      onAck(false);
    };
    control.on('close', gone);
    control.on('end', gone);
    control.on('error', gone);
  }

  /**
   * Runs the request in this standby, or resolves `undefined` (the standby is then discarded)
   * when the run must be cold: the standby is dead, stuck, spoke before being asked, declined the
   * request, has imported a module the workspace could shadow, or ended its run in a way a cold
   * run would not have (killed by a SIGKILL that was not the timeout's, or the plan's
   * `retryExitCode`: then `started` is set). Rejects only on abort, as `runProcess` does.
   */
  async run(request: WarmRequest): Promise<CommandResult | undefined> {
    if (this.used) return undefined;
    this.used = true;
    const names = await waitFor(this.ready, Math.min(READY_WAIT_MS, request.timeoutMs), request.signal);
    const process = this.handle.process;
    // Output before the request would be output no cold run prints: never passed on.
    if (!names || process.exited || process.outputBytes() > 0) return this.discard();
    if (request.conflicts?.(names)) return this.discard();
    process.control!.write(`${JSON.stringify(request.message)}\n`);
    if (!(await waitFor(this.acknowledged, ACK_WAIT_MS, request.signal))) return this.discard();
    this.started = true;
    try {
      const result = await process.arm(request.timeoutMs, request.signal, request.onOutput);
      // Killed by a SIGKILL that is not the timeout's: something outside the run ended it (seen,
      // rarely, under heavy load, with tests already passed). A cold run of the same files decides.
      if (result.exitCode === null && !result.timedOut && process.exitSignal === 'SIGKILL') return undefined;
      if (request.retryExitCode !== undefined && result.exitCode === request.retryExitCode && !result.timedOut) return undefined;
      return result;
    } finally {
      await this.handle.dispose();
    }
  }

  /** Kills the standby and releases what it holds. */
  async discard(): Promise<undefined> {
    this.used = true;
    this.handle.process.kill();
    await this.handle.dispose();
    return undefined;
  }
}

/** The promise's value, or `undefined` after `ms`; rejects when `signal` aborts. */
function waitFor<T>(promise: Promise<T>, ms: number, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T | undefined>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(undefined);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then((value) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    });
  });
}
