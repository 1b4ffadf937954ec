import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { CommandResult, OutputStream } from '../../contracts/sandbox-runner.js';
import { abortReason } from '../../internal/async.js';

/**
 * Keeps the head and the tail of a stream in at most `maxBytes` (plus one chunk), however much
 * the process writes: the head has the first error, the tail the runner's summary. Memory stays
 * flat because the middle is dropped as it streams past, never accumulated.
 */
export class CappedOutput {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private readonly tail: Buffer[] = [];
  private tailBytes = 0;
  private totalBytes = 0;
  private readonly headLimit: number;
  private readonly tailLimit: number;

  constructor(maxBytes: number) {
    this.headLimit = Math.floor(maxBytes / 2);
    this.tailLimit = maxBytes - this.headLimit;
  }

  get truncated(): boolean {
    return this.totalBytes > this.headLimit + this.tailLimit;
  }

  push(chunk: Buffer): void {
    this.totalBytes += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headLimit) {
      const take = Math.min(this.headLimit - this.headBytes, rest.length);
      this.head.push(rest.subarray(0, take));
      this.headBytes += take;
      rest = rest.subarray(take);
    }
    if (rest.length === 0 || this.tailLimit === 0) return;
    this.tail.push(rest);
    this.tailBytes += rest.length;
    // Drop whole chunks from the front while the rest still fills the tail.
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= this.tailLimit) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }

  toString(): string {
    const head = Buffer.concat(this.head).toString('utf8');
    let tail = Buffer.concat(this.tail);
    if (tail.length > this.tailLimit) tail = tail.subarray(tail.length - this.tailLimit);
    if (!this.truncated) return head + tail.toString('utf8');
    const omitted = this.totalBytes - this.headBytes - tail.length;
    return `${head}\n… [${omitted} bytes omitted] …\n${tail.toString('utf8')}`;
  }
}

export interface RunProcessOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** Kept of stdout and of stderr each, in bytes. */
  readonly maxOutputBytes: number;
  /**
   * The command runs under a wrapper (bwrap) that turns a signal death into exit code 128 + n:
   * such codes get the same explanatory note as a direct signal death.
   */
  readonly signalAsExitCode?: boolean;
  /** Extra cleanup that must also reach processes outside the process group (a pids cgroup). */
  readonly killAll?: () => Promise<void>;
  /** Receives the output as it arrives (see `RunOptions.onOutput`). */
  readonly onOutput?: OutputListener;
}

export type OutputListener = (stream: OutputStream, chunk: string) => void;

// After the main process exits, how long a grandchild holding stdout open may delay the result.
const DRAIN_GRACE_MS = 1_000;
// After a timeout kill, how long we wait for 'exit' before settling anyway: a process stuck in
// the kernel (uninterruptible I/O, a frozen cgroup) does not die at SIGKILL, and the caller's
// wall-clock limit must hold regardless.
export const KILL_GRACE_MS = 2_000;

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    // Negative pid: the whole process group (the child was spawned detached, so it leads one).
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Runs argv in its own process group with a wall-clock timeout, capped output and abort
 * support. On timeout or abort the whole group is killed with SIGKILL; after a normal exit the
 * group is killed too, so no background process outlives the command. Rejects only on abort.
 */
export function runProcess(argv: readonly string[], options: RunProcessOptions): Promise<CommandResult> {
  if (options.signal.aborted) return Promise.reject(abortReason(options.signal));
  if (argv[0] === undefined) return Promise.reject(new TypeError('runProcess: empty argv'));
  return launchProcess(argv, options).arm(options.timeoutMs, options.signal, options.onOutput);
}

export interface LaunchOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly maxOutputBytes: number;
  readonly signalAsExitCode?: boolean;
  readonly killAll?: () => Promise<void>;
  /**
   * Gives the child a control channel on file descriptor 3 (a socket pair end): the only way a
   * warm standby hears its request. Nothing else of the parent is inherited.
   */
  readonly controlChannel?: boolean;
}

/**
 * A process started ahead of its command (a warm standby): it is spawned now, and its clock,
 * timeout and abort only start with `arm`, which then behaves exactly as `runProcess` does
 * (same capped output, same kill-the-group on timeout, abort and exit). Output written before
 * `arm` is kept, and counted by `outputBytes`, so the caller can refuse a standby that spoke.
 */
export interface LaunchedProcess {
  readonly control: Duplex | undefined;
  /** The group leader's process id (undefined when it could not be spawned). */
  readonly pid: number | undefined;
  /** True once the process exited or could not be spawned. */
  readonly exited: boolean;
  /** The signal that ended the process itself (not a jailed command's, which bwrap turns into an exit code). */
  readonly exitSignal: NodeJS.Signals | null;
  outputBytes(): number;
  /** Kills the whole group (and `killAll`); the result, if armed, settles as for a timeout-free exit. */
  kill(): void;
  /**
   * Resolves once the process has exited (and been reaped), or after `timeoutMs`. A process sent
   * SIGKILL is still listed by the system until the kernel has ended it, which on a loaded
   * machine can take a while: what disposes of a process waits for this before it says "gone".
   */
  waitForExit(timeoutMs: number): Promise<void>;
  /**
   * Starts the clock: resolves with the result, rejects on abort. Once only. `onOutput` hears the
   * output written from now on (a standby that spoke before is refused anyway), never after the
   * promise settles.
   */
  arm(timeoutMs: number, signal: AbortSignal, onOutput?: OutputListener): Promise<CommandResult>;
}

export function launchProcess(argv: readonly string[], options: LaunchOptions): LaunchedProcess {
  const stdout = new CappedOutput(options.maxOutputBytes);
  const stderr = new CappedOutput(options.maxOutputBytes);
  const [command, ...args] = argv;
  if (command === undefined) throw new TypeError('launchProcess: empty argv');
  let started = performance.now();
  let timedOut = false;
  let aborted = false;
  let exitCode: number | null = null;
  let exitSignal: NodeJS.Signals | null = null;
  let exited = false;
  let closed = false;
  let armed: { signal: AbortSignal; resolve: (result: CommandResult) => void; reject: (error: unknown) => void } | undefined;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let written = 0;
  let listener: { onOutput: OutputListener; stdout: StringDecoder; stderr: StringDecoder } | undefined;
  /** Hands a chunk to the listener; a listener that throws loses its chunk, never the command. */
  const tell = (stream: OutputStream, text: string) => {
    if (!listener || text === '') return;
    try {
      listener.onOutput(stream, text);
    } catch {
      // Ignored: the listener's problem (the contract says so).
    }
  };

  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: options.controlChannel ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
  });
  const control = options.controlChannel ? (child.stdio[3] as Duplex) : undefined;
  // 'exit' comes after the child was reaped; 'error' when it never ran.
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  // EPIPE/ECONNRESET when the child is gone: the caller sees it as a standby that never answered.
  control?.on('error', () => {});
  child.stdout!.on('data', (chunk: Buffer) => {
    written += chunk.length;
    stdout.push(chunk);
    if (listener) tell('stdout', listener.stdout.write(chunk));
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    written += chunk.length;
    stderr.push(chunk);
    if (listener) tell('stderr', listener.stderr.write(chunk));
  });

  const killEverything = () => {
    killGroup(child.pid);
    if (options.killAll) options.killAll().catch(() => {});
  };
  const onAbort = () => {
    aborted = true;
    killEverything();
    // Settle promptly: an aborted caller does not wait for stragglers to close their pipes.
    finish();
  };
  const finish = () => {
    if (!armed || settled) return;
    settled = true;
    clearTimeout(timer);
    if (graceTimer) clearTimeout(graceTimer);
    armed.signal.removeEventListener('abort', onAbort);
    child.stdout!.destroy();
    child.stderr!.destroy();
    control?.destroy();
    killEverything();
    if (listener) {
      // The last bytes of a character cut by the end of the stream, then silence.
      tell('stdout', listener.stdout.end());
      tell('stderr', listener.stderr.end());
      listener = undefined;
    }
    if (aborted) {
      armed.reject(abortReason(armed.signal));
      return;
    }
    armed.resolve({
      exitCode: timedOut ? null : exitCode,
      stdout: stdout.toString(),
      stderr: stderr.toString(),
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
      timedOut,
      durationMs: performance.now() - started,
    });
  };

  /** Our own explanation, added to stderr as the process's output is. */
  const noteOnStderr = (text: string) => {
    stderr.push(Buffer.from(text));
    tell('stderr', text);
  };

  child.on('error', (error: NodeJS.ErrnoException) => {
    // spawn failed (ENOENT, EACCES): a result like a shell's "command not found", not a throw.
    exitCode = error.code === 'ENOENT' ? 127 : 126;
    noteOnStderr(`cannot run ${command}: ${error.code ?? error.message}\n`);
    exited = true;
    closed = true;
    finish();
  });
  child.on('exit', (code, signal) => {
    exitCode = code;
    exitSignal = signal;
    exited = true;
    const killedBy = signal ?? (options.signalAsExitCode && code !== null ? SIGNAL_BY_EXIT_CODE[code] : undefined);
    if (killedBy && !timedOut && !aborted) noteOnStderr(`\n[the process was killed by ${killedBy}${SIGNAL_HINTS[killedBy] ?? ''}]\n`);
    // Kill leftovers now, so a background process cannot keep the pipes open for long.
    killEverything();
    if (!armed) return;
    if (graceTimer) clearTimeout(graceTimer);
    graceTimer = setTimeout(finish, DRAIN_GRACE_MS);
  });
  child.on('close', () => {
    closed = true;
    finish();
  });

  return {
    control,
    pid: child.pid,
    get exited() {
      return exited;
    },
    get exitSignal() {
      return exitSignal;
    },
    outputBytes: () => written,
    kill: killEverything,
    waitForExit(timeoutMs) {
      if (exited) return Promise.resolve();
      let waitTimer: NodeJS.Timeout | undefined;
      return Promise.race([exitedPromise, new Promise<void>((resolve) => (waitTimer = setTimeout(resolve, timeoutMs)))]).finally(() => clearTimeout(waitTimer));
    },
    arm(timeoutMs, signal, onOutput) {
      if (armed) return Promise.reject(new Error('launchProcess: armed twice'));
      return new Promise<CommandResult>((resolve, reject) => {
        armed = { signal, resolve, reject };
        if (onOutput) listener = { onOutput, stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
        started = performance.now();
        if (signal.aborted) {
          onAbort();
          return;
        }
        timer = setTimeout(() => {
          timedOut = true;
          killEverything();
          // Unless 'exit' already came and started the (shorter) drain grace.
          graceTimer ??= setTimeout(finish, KILL_GRACE_MS);
        }, timeoutMs);
        signal.addEventListener('abort', onAbort, { once: true });
        // What happened before the clock started: a process already gone settles as it would have.
        if (closed) finish();
        else if (exited) graceTimer = setTimeout(finish, DRAIN_GRACE_MS);
      });
    },
  };
}

const SIGNAL_BY_EXIT_CODE: Readonly<Record<number, NodeJS.Signals>> = { 137: 'SIGKILL', 139: 'SIGSEGV', 152: 'SIGXCPU', 153: 'SIGXFSZ' };

// Signals the resource limits send, explained for the model reading the output.
const SIGNAL_HINTS: Partial<Record<NodeJS.Signals, string>> = {
  SIGXCPU: ': the CPU time limit was exceeded',
  SIGXFSZ: ': the file size limit was exceeded',
  SIGKILL: ' (possibly the memory or CPU limit)',
  SIGSEGV: ' (a crash, or the memory limit)',
};
