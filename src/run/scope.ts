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
  private readonly stopped: Promise<never>;
  private rejectStopped!: (reason: unknown) => void;
  private timer: NodeJS.Timeout | undefined;
  private deadline = Number.POSITIVE_INFINITY;
  private timeoutMs = 0;
  private pausedAt: number | undefined;
  private readonly onCallerAbort: () => void;
  private opening: Promise<SandboxSession> | undefined;
  /**
   * Cleanup that goes on after `close` returned (an open still pending when the run ended): the
   * run is over, but whoever shuts the process down (`agent.close()`) waits for it.
   */
  lingering: Promise<void> | undefined;
  private session: SandboxSession | undefined;

  constructor(private readonly callerSignal: AbortSignal | undefined) {
    // One promise that rejects when the run stops, raced by `guard`: cheaper than a listener per await.
    this.stopped = new Promise<never>((_, reject) => {
      this.rejectStopped = reject;
    });
    this.stopped.catch(() => {});
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
    this.timer = setTimeout(() => this.stop(new PTCTimeoutError(`The run timed out after ${timeoutMs} ms`, timeoutMs)), Math.max(0, deadline - performance.now()));
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
    this.rejectStopped(reason);
  }

  /** Settles with `work`, or rejects as soon as the run stops, even if the adapter ignores its signal. */
  guard<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.stopped]);
  }

  /**
   * Starts opening the sandbox, beside generation. A failed open stops the run at once, so a
   * model call still in flight is abandoned rather than paid for a run that cannot be tested.
   */
  open(opener: (signal: AbortSignal) => Promise<SandboxSession>): void {
    let started: Promise<SandboxSession>;
    try {
      // Called now, not on a later tick: the sandbox starts opening before the model is asked.
      started = opener(this.signal);
    } catch (error) {
      started = Promise.reject(error);
    }
    this.opening = started.then(
        (session) => {
          this.session = session;
          return session;
        },
        (error: unknown) => {
          const failure =
            error instanceof PTCError ? error : new SandboxError(`Could not open the sandbox: ${error instanceof Error ? error.message : String(error)}`, { code: 'SANDBOX_OPEN_FAILED', cause: error });
          if (!this.signal.aborted) this.stop(failure);
          throw failure;
        },
      );
    this.opening.catch(() => {});
  }

  /** The open sandbox, waiting for it if needed. */
  sandbox(): Promise<SandboxSession> {
    if (!this.opening) throw new Error('RunScope.sandbox() before open()');
    return this.guard(this.opening);
  }

  /**
   * Releases the timer, the caller's listener and the sandbox. A session that opened is closed
   * and awaited up to `closeTimeoutMs`; one still opening is closed whenever it lands, without
   * holding the run. Returns a warning for the bundle when closing failed or took too long.
   */
  async close(closeTimeoutMs: number): Promise<string | undefined> {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
    if (!this.opening) return undefined;
    if (!this.session) {
      // Nobody needs it any more: tell the open to stop, and close whatever it still lands.
      this.stop(new PTCAbortError('the run ended before the sandbox opened'));
      this.lingering = this.opening.then((session) => session.close()).catch(() => {});
      return undefined;
    }
    const session = this.session;
    let timer: NodeJS.Timeout | undefined;
    const closing = Promise.resolve()
      .then(() => session.close())
      .then(
        () => undefined,
        (error: unknown) => `closing the sandbox failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    const outcome = await Promise.race([
      closing,
      new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), closeTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (outcome !== 'timeout') return outcome;
    // A close that outlasted the wait goes on; whoever shuts the process down waits for it.
    this.lingering = closing.then(() => undefined);
    return `the sandbox did not close within ${closeTimeoutMs} ms; closing continues in the background`;
  }
}
