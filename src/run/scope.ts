import { performance } from 'node:perf_hooks';
import type { SandboxSession } from '../contracts/sandbox-runner.js';
import { PTCAbortError, PTCError, PTCTimeoutError, SandboxError } from '../errors.js';

/**
 * What ended a run early, as one of our errors: the caller's signal (`cancelled`, or `timeout`
 * when it is an `AbortSignal.timeout()`), the run's deadline, or a sandbox that could not open.
 */
export function stopReasonOf(reason: unknown): Error {
  if (reason instanceof PTCError) return reason;
  // AbortSignal.timeout() aborts with a DOMException named TimeoutError: the caller's deadline.
  if (reason instanceof Error && reason.name === 'TimeoutError') return new PTCTimeoutError(`The run timed out (the caller's signal): ${reason.message}`, 0, { cause: reason });
  return new PTCAbortError('The run was cancelled', { cause: reason });
}

/**
 * The lifetime of one run: its abort signal (the caller's, the deadline's, or a failed sandbox
 * open's), and the sandbox it opens. Every await of an adapter goes through `guard`, so a run
 * ends on time even when an adapter ignores its signal; `close` releases the sandbox on every
 * exit path without letting a hung `open` or `close` hold the bundle back.
 */
export class RunScope {
  private readonly controller = new AbortController();
  /** The rejections of the guards still waiting: `stop` settles them all at once. */
  private readonly guarded = new Set<(reason: unknown) => void>();
  private timer: NodeJS.Timeout | undefined;
  private deadline = Number.POSITIVE_INFINITY;
  private timeoutMs = 0;
  private pausedAt: number | undefined;
  private readonly onCallerAbort: () => void;
  /** The run's sandbox, and others it opened (candidates') that are not closed yet. */
  private main: OpenSandbox | undefined;
  private readonly spares = new Set<OpenSandbox>();
  /**
   * Cleanup that goes on after `close` returned (an open still pending when the run ended): the
   * run is over, but whoever shuts the process down (`agent.close()`) waits for it.
   */
  lingering: Promise<void> | undefined;

  constructor(private readonly callerSignal: AbortSignal | undefined) {
    this.onCallerAbort = () => this.stop(stopReasonOf(callerSignal?.reason));
    if (callerSignal?.aborted) this.onCallerAbort();
    else callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  /**
   * Starts the run's clock (when it leaves the queue, or earlier for a twin that waited).
   * @param deadline `performance.now()` value at which the run times out.
   * @param timeoutMs the run's limit, for the message.
   */
  startDeadline(deadline: number, timeoutMs: number): void {
    clearTimeout(this.timer);
    this.deadline = deadline;
    this.timeoutMs = timeoutMs;
    if (this.controller.signal.aborted) return;
    // Whole milliseconds: node keeps one timer list per distinct duration, and runs with the same
    // limit then share one instead of each making (and dropping) its own.
    this.timer = setTimeout(() => this.stop(new PTCTimeoutError(`The run timed out after ${timeoutMs} ms`, timeoutMs)), Math.max(0, Math.ceil(deadline - performance.now())));
  }

  /** Stops the clock (waiting in the queue does not count); `resumeDeadline` starts it again. */
  pauseDeadline(): void {
    if (this.pausedAt !== undefined || !Number.isFinite(this.deadline)) return;
    clearTimeout(this.timer);
    this.pausedAt = performance.now();
  }

  resumeDeadline(): void {
    if (this.pausedAt === undefined) return;
    const paused = performance.now() - this.pausedAt;
    this.pausedAt = undefined;
    this.startDeadline(this.deadline + paused, this.timeoutMs);
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Why the run stopped early, `undefined` while it runs. */
  get reason(): Error | undefined {
    return this.controller.signal.aborted ? (this.controller.signal.reason as Error) : undefined;
  }

  remainingMs(): number {
    return Math.max(1, Math.round(this.deadline - performance.now()));
  }

  stop(reason: Error): void {
    if (this.controller.signal.aborted) return;
    this.controller.abort(reason);
    // A microtask later, as a race with a stopped promise would: work that had already settled
    // when the run stopped still wins.
    const waiting = [...this.guarded];
    this.guarded.clear();
    queueMicrotask(() => {
      for (const reject of waiting) reject(reason);
    });
  }

  /** Settles with `work`, or rejects as soon as the run stops, even if the adapter ignores its signal. */
  guard<T>(work: Promise<T>): Promise<T> {
    const stopped = this.reason;
    if (stopped) {
      work.catch(() => {});
      return Promise.reject(stopped);
    }
    // A set of waiting rejections rather than Promise.race with one shared "stopped" promise:
    // a third of the cost per await, and nothing piles up on a promise that lives as long as the run.
    return new Promise<T>((resolve, reject) => {
      this.guarded.add(reject);
      work.then(
        (value) => {
          this.guarded.delete(reject);
          resolve(value);
        },
        (error: unknown) => {
          this.guarded.delete(reject);
          reject(error);
        },
      );
    });
  }

  /**
   * Starts opening the sandbox, beside generation. A failed open stops the run at once, so a
   * model call still in flight is abandoned rather than paid for a run that cannot be tested.
   */
  open(opener: (signal: AbortSignal) => Promise<SandboxSession>): void {
    this.main = this.openSandbox(opener, this.signal);
  }

  /**
   * Opens one more sandbox for the run (a candidate's), closed with the run unless `keep` makes
   * it the run's sandbox. Like the first, a failed open stops the run.
   */
  openSpare(opener: (signal: AbortSignal) => Promise<SandboxSession>): OpenSandbox {
    // Its own signal too: a spare closed while still opening (its candidates gave up) stops opening.
    const own = new AbortController();
    const spare = this.openSandbox(opener, AbortSignal.any([this.signal, own.signal]), () => own.abort(new PTCAbortError('the candidate no longer needs its sandbox')));
    this.spares.add(spare);
    return spare;
  }

  /** The run's own sandbox (from `open`), if it opened one. */
  get mainSandbox(): OpenSandbox | undefined {
    return this.main;
  }

  /** The open sandbox, waiting for it if needed. */
  sandbox(): Promise<SandboxSession> {
    if (!this.main) throw new Error('RunScope.sandbox() before open()');
    return this.session(this.main);
  }

  /** A sandbox of this scope, waiting for it to open (or for the run to stop). */
  session(sandbox: OpenSandbox): Promise<SandboxSession> {
    // Already open (the common case by the time tests run): nothing to wait for or race.
    if (sandbox.session && !this.reason) return Promise.resolve(sandbox.session);
    return this.guard(sandbox.opening);
  }

  /** Makes `sandbox` the run's sandbox; the one it replaces becomes a spare, for `closeSpares`. */
  keep(sandbox: OpenSandbox): void {
    if (sandbox === this.main) return;
    this.spares.delete(sandbox);
    if (this.main) this.spares.add(this.main);
    this.main = sandbox;
  }

  /** Closes every sandbox but the run's own, each awaited up to `closeTimeoutMs`; returns what went wrong. */
  async closeSpares(closeTimeoutMs: number): Promise<string | undefined> {
    const spares = [...this.spares];
    this.spares.clear();
    const problems = await Promise.all(spares.map((spare) => this.closeSandbox(spare, closeTimeoutMs)));
    return problems.find((problem) => problem !== undefined);
  }

  /**
   * Releases the timer, the caller's listener and every sandbox. A session that opened is closed
   * and awaited up to `closeTimeoutMs`; one still opening is closed whenever it lands, without
   * holding the run. Returns a warning for the bundle when closing failed or took too long.
   */
  async close(closeTimeoutMs: number): Promise<string | undefined> {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
    const all = [...(this.main ? [this.main] : []), ...this.spares];
    this.main = undefined;
    this.spares.clear();
    if (all.length === 0) return undefined;
    // Nobody needs a sandbox still opening any more: tell the opens to stop.
    if (all.some((sandbox) => !sandbox.session)) this.stop(new PTCAbortError('the run ended before the sandbox opened'));
    const problems = await Promise.all(all.map((sandbox) => this.closeSandbox(sandbox, closeTimeoutMs)));
    return problems.find((problem) => problem !== undefined);
  }

  private openSandbox(opener: (signal: AbortSignal) => Promise<SandboxSession>, signal: AbortSignal, cancel?: () => void): OpenSandbox {
    let started: Promise<SandboxSession>;
    try {
      // Called now, not on a later tick: the sandbox starts opening before the model is asked.
      started = opener(signal);
    } catch (error) {
      started = Promise.reject(error);
    }
    const sandbox: OpenSandbox = { opening: undefined!, session: undefined, ...(cancel ? { cancel } : {}) };
    sandbox.opening = started.then(
      (session) => {
        sandbox.session = session;
        return session;
      },
      (error: unknown) => {
        const failure =
          error instanceof PTCError ? error : new SandboxError(`Could not open the sandbox: ${error instanceof Error ? error.message : String(error)}`, { code: 'SANDBOX_OPEN_FAILED', cause: error });
        // A spare's open that was cancelled on purpose is not a failure of the run.
        if (!this.signal.aborted && !sandbox.cancelled) this.stop(failure);
        throw failure;
      },
    );
    sandbox.opening.catch(() => {});
    return sandbox;
  }

  /** Closes one sandbox; a close (or an open) that outlasts the wait goes on in `lingering`. */
  private async closeSandbox(sandbox: OpenSandbox, closeTimeoutMs: number): Promise<string | undefined> {
    if (!sandbox.session) {
      sandbox.cancelled = true;
      sandbox.cancel?.();
      this.linger(sandbox.opening.then((session) => session.close()).catch(() => {}));
      return undefined;
    }
    const failed = (error: unknown) => `closing the sandbox failed: ${error instanceof Error ? error.message : String(error)}`;
    let closing: Promise<string | undefined>;
    try {
      closing = Promise.resolve(sandbox.session.close()).then(() => undefined, failed);
    } catch (error) {
      // An adapter whose close throws instead of rejecting.
      closing = Promise.resolve(failed(error));
    }
    let timer: NodeJS.Timeout | undefined;
    const outcome = await new Promise<string | undefined>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), closeTimeoutMs);
      void closing.then(resolve);
    });
    clearTimeout(timer);
    if (outcome !== 'timeout') return outcome;
    // A close that outlasted the wait goes on; whoever shuts the process down waits for it.
    this.linger(closing.then(() => undefined));
    return `the sandbox did not close within ${closeTimeoutMs} ms; closing continues in the background`;
  }

  private linger(cleanup: Promise<void>): void {
    const before = this.lingering;
    this.lingering = before ? Promise.all([before, cleanup]).then(() => undefined) : cleanup;
  }
}

/** One sandbox of a run: opening, then open; `RunScope` closes it. */
export interface OpenSandbox {
  opening: Promise<SandboxSession>;
  session: SandboxSession | undefined;
  /** Stops a spare's open (the run's own sandbox stops with the run). */
  cancel?: () => void;
  cancelled?: boolean;
}
