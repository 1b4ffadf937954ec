import type { CommandResult } from '../../contracts/sandbox-runner.js';
import type { LaunchedProcess, OutputListener } from './process.js';

/**
 * Warm pytest runs (`warmPython`): a single-use standby interpreter per session, started in the
 * jail and under the limits a test command gets, that has already paid `import pytest` and waits
 * for one request on file descriptor 3. The request (argv, working directory) arrives when the
 * run does; the standby then becomes exactly what `python3 -B -m pytest …` would be at that
 * point, runs pytest once and exits. Whatever makes a run differ from the cold one it would be
 * (other interpreter flags, another environment, a workspace module with the name of something
 * already imported, a standby that is not answering) makes the run cold instead.
 */

/** The interpreter flags a standby starts with: a run warms only when its own are exactly these. */
export const WARM_PYTHON_FLAGS: readonly string[] = ['-B'];

/**
 * Run as `python -B -c WARM_PYTHON_BOOTSTRAP`. Line by line, why:
 * - `sys.path[0]` is `''` (the start directory) under `-c`: removed before anything is imported,
 *   so nothing of a workspace (the previous iteration's files included) is importable while
 *   pytest loads; the request's directory is put back in its place, as `-m` does, after `chdir`.
 * - the names of every module already imported go back with `ready`: the runner refuses to warm a
 *   run whose files could shadow one of them (a cold run would import the workspace's file).
 * - `go` acknowledges the request, so a standby that is alive but stuck (stopped, swapped out)
 *   is told apart from a slow test and the run goes cold, never times out for nothing.
 * - fd 3 is closed before any code of the workspace runs: the tests cannot reach the channel.
 * - `__main__` is emptied of the bootstrap's own names and `runpy._run_module_as_main` is what
 *   `-m` itself calls: the tests see the `__main__`, `sys.argv` and `sys.orig_argv` of a cold run.
 */
export const WARM_PYTHON_BOOTSTRAP = `import sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
def _ptc_standby():
    import os, json, runpy
    import pytest
    control = 3
    names = sorted({name.partition(".")[0] for name in sys.modules})
    os.write(control, ("ready " + json.dumps(names) + "\\n").encode())
    data = b""
    while not data.endswith(b"\\n"):
        chunk = os.read(control, 1 << 16)
        if not chunk:
            os._exit(75)
        data += chunk
    request = json.loads(data)
    os.write(control, b"go\\n")
    os.close(control)
    os.chdir(request["cwd"])
    if not sys.flags.safe_path:
        sys.path.insert(0, os.getcwd())
    sys.argv = ["-m", *request["args"]]
    sys.orig_argv = list(request["argv"])
    main = sys.modules["__main__"].__dict__
    for key in [key for key in main if not key.startswith("__")]:
        del main[key]
    runpy._run_module_as_main("pytest")
_ptc_standby()
`;

/** pytest's own arguments when argv is `<python> -B -m pytest …` with the standby's interpreter; else undefined. */
export function warmPytestArguments(argv: readonly string[], python: string): string[] | undefined {
  if (argv[0] !== python) return undefined;
  const flags = argv.slice(1, 1 + WARM_PYTHON_FLAGS.length);
  if (flags.length !== WARM_PYTHON_FLAGS.length || flags.some((flag, index) => flag !== WARM_PYTHON_FLAGS[index])) return undefined;
  const rest = argv.slice(1 + WARM_PYTHON_FLAGS.length);
  if (rest[0] !== '-m' || rest[1] !== 'pytest') return undefined;
  return rest.slice(2);
}

/**
 * Names the workspace files could be imported under, for the shadowing check: every directory
 * and every file stem (before the first dot) on every path, not only the top level, because
 * pytest's default import mode puts test directories on `sys.path` too. Over-broad on purpose: a
 * false match only costs a cold run.
 */
export function importableNames(paths: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const path of paths) {
    for (const segment of path.split('/')) {
      const stem = segment.split('.')[0];
      if (stem) names.add(stem);
    }
  }
  return names;
}

export interface StandbyHandle {
  readonly process: LaunchedProcess;
  /** Releases what the launch holds besides the process (a pids cgroup); kills what is left. */
  dispose(): Promise<void>;
}

export interface WarmRequest {
  readonly argv: readonly string[];
  readonly args: readonly string[];
  readonly cwd: string;
  /** Workspace paths of the files synced for this run. */
  readonly files: Iterable<string>;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** Receives the run's output as it arrives (see `RunOptions.onOutput`). */
  readonly onOutput?: OutputListener;
}

/** How long a run waits for its standby to finish loading pytest before it goes cold. */
const READY_WAIT_MS = 20_000;
/** How long a ready standby may take to acknowledge a request before the run goes cold. */
const ACK_WAIT_MS = 5_000;

/** One standby process: used by one run at most, then gone. */
export class PythonStandby {
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
   * when the run must be cold: the standby is dead, stuck, spoke before being asked, has
   * imported a module the workspace could shadow, or was killed during the run by a SIGKILL
   * that was not the timeout's (then `started` is set). Rejects only on abort, as `runProcess` does.
   */
  async run(request: WarmRequest): Promise<CommandResult | undefined> {
    if (this.used) return undefined;
    this.used = true;
    const names = await waitFor(this.ready, Math.min(READY_WAIT_MS, request.timeoutMs), request.signal);
    const process = this.handle.process;
    // Output before the request would be output no cold run prints: never passed on.
    if (!names || process.exited || process.outputBytes() > 0) return this.discard();
    const files = importableNames(request.files);
    if ([...files].some((name) => names.has(name))) return this.discard();
    process.control!.write(`${JSON.stringify({ argv: request.argv, args: request.args, cwd: request.cwd })}\n`);
    if (!(await waitFor(this.acknowledged, ACK_WAIT_MS, request.signal))) return this.discard();
    this.started = true;
    try {
      const result = await process.arm(request.timeoutMs, request.signal, request.onOutput);
      // Killed by a SIGKILL that is not the timeout's: something outside the run ended it (seen,
      // rarely, under heavy load, with tests already passed). A cold run of the same files decides.
      if (result.exitCode === null && !result.timedOut && process.exitSignal === 'SIGKILL') return undefined;
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
