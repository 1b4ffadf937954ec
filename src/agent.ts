import { EventEmitter } from 'eventemitter3';
import diagnostics_channel from 'node:diagnostics_channel';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { ArtifactBundle } from './bundle.js';
import { cacheKey as computeCacheKey } from './cache-key.js';
import type { PTCEmitterEvents, PTCEventMap, PTCEventName, PTCStreamItem } from './events.js';
import { PlanValidationError, PTCAbortError, PTCError, PTCTimeoutError } from './errors.js';
import { Semaphore, raceAbort } from './internal/async.js';
import { Redactor } from './internal/redact.js';
import { durationMs } from './internal/validate.js';
import { type PTCAgentOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type Language, type Plan, type PlanInput, parsePlan } from './plan.js';
import type { TestPreset } from './reports/presets.js';
import { type EventSink, RunContext, type RunQueue } from './run/context.js';
import type { ResumePoint } from './checkpoint-state.js';
import { withTimeout } from './internal/async.js';
import { readCheckpoint } from './run/checkpoint.js';
import { runPlan } from './run/loop.js';
import { RunRecord, asHit } from './run/result.js';
import { stopReasonOf } from './run/scope.js';
import { totalTokens } from './usage.js';

export type { FileLimitOptions, PTCAgentOptions, TestOutputOptions } from './options.js';

export interface ExecuteOptions {
  /**
   * Cancels the run: it still closes its sandbox and resolves with status `cancelled` (or
   * `timeout` for an `AbortSignal.timeout()`).
   */
  signal?: AbortSignal;
}

export interface CloseOptions {
  /**
   * How long in-flight and queued runs may go on before they are cancelled; 0 cancels them at
   * once. Either way `close()` resolves once every run has resolved and closed its sandbox.
   * @default 0
   */
  drainTimeoutMs?: number;
  /**
   * How long to wait, after the runs ended, for cleanup that outlived them: a sandbox close that
   * took longer than `closeTimeoutMs`, or a sandbox still opening when its run ended (a Daytona
   * delete can take tens of seconds; a process that exits first leaks the sandbox).
   * @default 30000
   */
  cleanupTimeoutMs?: number;
}

export interface AgentStats {
  /** Runs started (cache hits included). */
  total: number;
  succeeded: number;
  /** Runs that ended in any status but `success` and `cancelled`. */
  failed: number;
  /** Runs cancelled by their caller, a closed stream or `close()`. */
  cancelled: number;
  /** Bundles served from the cache or from an identical run in flight. */
  cacheHits: number;
  /** `maxConcurrent` slots in use: one per running run, plus the extra ones its candidates hold. */
  inFlight: number;
  queued: number;
  tokens: number;
  /** USD over runs whose cost is known. */
  costUsd: number;
  /** Over the last 1,000 runs, in ms; 0 before the first run. */
  p50DurationMs: number;
  p95DurationMs: number;
}

/**
 * Every event of every agent in the process, as `{ type, ...payload }` (secrets scrubbed), for
 * logs and tracing without touching the code that runs the agents:
 * `diagnostics_channel.subscribe('ptc-agent:event', (event) => logger.debug(event))`.
 */
export const EVENTS_CHANNEL_NAME = 'ptc-agent:event';
const EVENTS_CHANNEL = diagnostics_channel.channel(EVENTS_CHANNEL_NAME);

/** Receives every event of one run (what `PTCAgent.stream()` listens with). */
type Observer = (item: PTCStreamItem) => void;

const DURATION_WINDOW = 1_000;

// The agent keeps the queue, single flight and stats; one run's loop is `runPlan` (src/run/loop.ts).
/**
 * Prompt → Test → Code. `execute(plan)` has the generator write code and tests, runs them in a
 * sandbox, feeds failures back until the tests pass or a budget runs out, and resolves with a
 * validated bundle. It emits typed events (see {@link PTCEventMap}) while it works.
 *
 * A run that produced a bundle resolves, whatever its status; misuse (an invalid plan) rejects
 * with a {@link PTCError}. Every caller gets a bundle of its own, which nothing changes afterwards.
 */
export class PTCAgent extends EventEmitter<PTCEmitterEvents> {
  private readonly options: ResolvedOptions;
  private readonly semaphore: Semaphore;
  private readonly queue: RunQueue;
  private readonly redactor: Redactor;
  private readonly inFlightByKey = new Map<string, Promise<ArtifactBundle>>();
  private readonly durations: number[] = [];
  private durationCursor = 0;
  private counters = { total: 0, succeeded: 0, failed: 0, cancelled: 0, cacheHits: 0, tokens: 0, costUsd: 0 };
  /** Aborted by `close()`: every run listens to it (through its own signal). */
  private readonly lifetime = new AbortController();
  private readonly running = new Set<Promise<unknown>>();
  /** Cleanup that outlived its run (a sandbox still opening when the run ended). */
  private readonly lingering = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;

  constructor(options: PTCAgentOptions) {
    super();
    this.options = resolveOptions(options);
    // Every run listens to the agent's lifetime while it runs; hundreds at once are normal.
    setMaxListeners(0, this.lifetime.signal);
    const semaphore = new Semaphore(this.options.maxConcurrent);
    this.semaphore = semaphore;
    this.queue = {
      get full() {
        return semaphore.running >= semaphore.capacity;
      },
      get waiting() {
        return semaphore.queued;
      },
      acquire: (signal) => semaphore.acquire(signal),
      tryAcquire: () => semaphore.tryAcquire(),
    };
    // Secret-looking sandboxEnv entries count too: tests can print their environment into a report.
    this.redactor = new Redactor(options.secrets ?? [], { ...process.env, ...this.options.sandboxEnv });
  }

  /**
   * Runs a plan to a bundle. Rejects only for misuse: an invalid plan (`PlanValidationError`), or
   * an agent already closed (`PTCError` with code `AGENT_CLOSED`).
   */
  async execute(planInput: PlanInput | Plan, options: ExecuteOptions = {}): Promise<ArtifactBundle> {
    const plan = this.parse(planInput);
    this.assertOpen();
    return this.track(this.executePlan(plan, this.withLifetime(options.signal), undefined));
  }

  /**
   * Continues the run `executionId` from its checkpoint (the `checkpoints` option): iterations it
   * already did are not generated again, usage and budgets carry over, and a fresh sandbox runs
   * the next iteration's tests. Resolves with a bundle of all iterations. Rejects with a
   * `PTCError` `CHECKPOINT_NOT_FOUND` when there is no usable checkpoint (none, unreadable,
   * invalid, foreign, or of a finished run), saying which.
   */
  async resume(executionId: string, options: ExecuteOptions = {}): Promise<ArtifactBundle> {
    this.assertOpen();
    const store = this.options.checkpoints;
    if (!store) throw new PTCError('CHECKPOINT_NOT_FOUND', 'resume needs a checkpoint store: pass the checkpoints option to PTCAgent');
    if (typeof executionId !== 'string' || executionId.length === 0) throw new TypeError('executionId must be a non-empty string');
    const signal = this.withLifetime(options.signal);
    let raw: unknown;
    try {
      raw = await withTimeout((callSignal) => store.load(executionId, { signal: callSignal }), this.options.cacheTimeoutMs, signal, 'checkpoint load');
    } catch (error) {
      throw new PTCError('CHECKPOINT_NOT_FOUND', this.redactor.text(`the checkpoint of ${executionId} could not be loaded: ${error instanceof Error ? error.message : String(error)}`), { cause: error });
    }
    if (raw === undefined || raw === null) throw new PTCError('CHECKPOINT_NOT_FOUND', `there is no checkpoint for ${executionId} (never saved, finished and deleted, or expired)`);
    const read = readCheckpoint(raw, { executionId, generatorId: this.options.generator.id, testPresetIdFor: (plan) => this.testPresetFor(plan.language).id }, this.redactor);
    if (typeof read === 'string') throw new PTCError('CHECKPOINT_NOT_FOUND', this.redactor.text(`the checkpoint of ${executionId} cannot be resumed: ${read}`));
    if (read.state.finished) throw new PTCError('CHECKPOINT_NOT_FOUND', `the run ${executionId} already finished (${read.state.finished.stopReason}); there is nothing to resume`);
    this.assertOpen();
    return this.track(this.executePlan(read.plan, signal, undefined, read));
  }

  /**
   * Stops accepting runs, lets in-flight and queued ones go on for up to `drainTimeoutMs`, then
   * cancels the rest (they resolve `cancelled` and close their sandboxes). Resolves once every run
   * has resolved and cleanup that outlived a run (a sandbox still opening when it ended, a close
   * slower than `closeTimeoutMs`) is done, waiting at most `cleanupTimeoutMs` for the latter.
   * Idempotent; also `await using`.
   */
  close(options: CloseOptions = {}): Promise<void> {
    const drainMs = durationMs('drainTimeoutMs', options.drainTimeoutMs, 0, 0);
    const cleanupMs = durationMs('cleanupTimeoutMs', options.cleanupTimeoutMs, 30_000, 0);
    this.closing ??= (async () => {
      if (drainMs > 0 && this.running.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled([...this.running]), new Promise((resolve) => (timer = setTimeout(resolve, drainMs)))]);
        clearTimeout(timer);
      }
      this.lifetime.abort(new PTCAbortError('the agent was closed'));
      await Promise.allSettled([...this.running]);
      // Bounded: an adapter whose open or close never lands must not hold shutdown forever.
      if (this.lingering.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([Promise.allSettled([...this.lingering]), new Promise((resolve) => (timer = setTimeout(resolve, cleanupMs)))]);
        clearTimeout(timer);
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Validates a plan as `execute` does: `parsePlan`, with this agent's secrets scrubbed from the
   * error (a plan from the network can carry a key in a field name or value, and validation
   * messages quote both). For servers that answer an invalid plan before starting a run.
   * @throws PlanValidationError
   */
  validatePlan(planInput: PlanInput | Plan): Plan {
    return this.parse(planInput);
  }

  private parse(planInput: PlanInput | Plan): Plan {
    try {
      return parsePlan(planInput);
    } catch (error) {
      if (!(error instanceof PlanValidationError) || this.redactor.size === 0) throw error;
      throw new PlanValidationError(error.issues.map((issue) => ({ path: this.redactor.text(issue.path), message: this.redactor.text(issue.message) })));
    }
  }

  private assertOpen(): void {
    if (this.closing) throw new PTCError('AGENT_CLOSED', 'the agent is closed: create a new PTCAgent to run more plans');
  }

  /** The caller's signal, joined with the agent's lifetime (cheaply when there is none). */
  private withLifetime(signal: AbortSignal | undefined): AbortSignal {
    return signal === undefined ? this.lifetime.signal : AbortSignal.any([signal, this.lifetime.signal]);
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.running.add(work);
    const untrack = () => this.running.delete(work);
    work.then(untrack, untrack);
    return work;
  }

  /**
   * The run's events as an async iterable, ending with `{ type: 'bundle', bundle }`. The plan is
   * validated before the first item; an invalid plan makes the iteration throw. Ending the
   * iteration early (`break`, a closed connection that stops the loop) cancels the run; a server
   * whose writes do not throw on a closed connection should pass a signal tied to it.
   */
  async *stream(planInput: PlanInput | Plan, options: ExecuteOptions = {}): AsyncGenerator<PTCStreamItem, void, undefined> {
    const plan = this.parse(planInput);
    this.assertOpen();
    const items: PTCStreamItem[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const observer: Observer = (item) => {
      items.push(item);
      wake?.();
    };
    const controller = new AbortController();
    const callerSignal = options.signal;
    const onCallerAbort = () => controller.abort(callerSignal?.reason);
    if (callerSignal?.aborted) onCallerAbort();
    else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    const run = this.track(this.executePlan(plan, this.withLifetime(controller.signal), observer)).then(
      (bundle) => observer({ type: 'bundle', bundle }),
      (error: unknown) => {
        failure = error;
      },
    );
    void run.finally(() => {
      finished = true;
      wake?.();
    });
    try {
      while (true) {
        if (items.length > 0) {
          yield items.shift()!;
          continue;
        }
        if (finished) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    } finally {
      callerSignal?.removeEventListener('abort', onCallerAbort);
      if (!finished) controller.abort(new PTCAbortError('the stream was closed before the run ended'));
    }
    if (failure !== undefined) throw failure;
  }

  stats(): AgentStats {
    const window = this.durations.slice().sort((a, b) => a - b);
    const at = (fraction: number) => (window.length === 0 ? 0 : window[Math.min(window.length - 1, Math.floor(fraction * window.length))]!);
    return {
      ...this.counters,
      inFlight: this.semaphore.running,
      queued: this.semaphore.queued,
      p50DurationMs: at(0.5),
      p95DurationMs: at(0.95),
    };
  }

  /** The preset used for a language, after `testPresets` overrides. */
  testPresetFor(language: Language): TestPreset {
    return this.options.testPresets[language];
  }

  /** The cache key of a plan for this agent's generator and presets. */
  cacheKeyFor(planInput: PlanInput | Plan): string {
    const plan = this.parse(planInput);
    return computeCacheKey(plan, { generatorId: this.options.generator.id, testPresetId: this.testPresetFor(plan.language).id });
  }

  private async executePlan(plan: Plan, callerSignal: AbortSignal | undefined, observer: Observer | undefined, resume?: ResumePoint): Promise<ArtifactBundle> {
    const preset = this.options.testPresets[plan.language];
    // The key serves the cache and single flight; a plan that opts out of both does not need one.
    const key = plan.cacheStrategy === 'never' ? undefined : computeCacheKey(plan, { generatorId: this.options.generator.id, testPresetId: preset.id });
    const context = () => new RunContext(plan, preset, key, this.options, this.redactor, this.sinkFor(observer));
    this.counters.total += 1;

    // Single flight: an identical plan in flight is awaited instead of generated again. When the
    // run awaited was cancelled or timed out (its caller's business), one waiting twin takes over
    // and the others wait for it: never a herd.
    let deadline: number | undefined;
    const startedAt = new Date();
    const started = performance.now();
    for (let leader = key === undefined ? undefined : this.inFlightByKey.get(key); leader !== undefined && key !== undefined; leader = this.inFlightByKey.get(key)) {
      // A twin's clock starts when it starts waiting, and keeps running if it takes over.
      deadline ??= started + (plan.timeoutMs ?? this.options.defaultTimeoutMs);
      const followed = await this.follow(plan, leader, deadline, callerSignal, context, started);
      if (followed.kind === 'shared') return this.finish(asHit(followed.bundle, plan, key, startedAt, performance.now() - started, true), observer, plan, 'in-flight');
      if (followed.kind === 'ended') return this.finish(followed.bundle, observer, plan, undefined);
    }

    let settleShared: ((bundle: ArtifactBundle | undefined) => void) | undefined;
    if (key !== undefined && !this.inFlightByKey.has(key)) {
      const shared = new Promise<ArtifactBundle | undefined>((resolve) => {
        settleShared = resolve;
      });
      this.inFlightByKey.set(key, shared as Promise<ArtifactBundle>);
    }
    try {
      const bundle = await runPlan(context(), {
        cache: key === undefined ? undefined : this.options.cache,
        queue: this.queue,
        callerSignal,
        deadline,
        ...(resume ? { resume } : {}),
        linger: (cleanup) => {
          this.lingering.add(cleanup);
          void cleanup.finally(() => this.lingering.delete(cleanup));
        },
      });
      settleShared?.(bundle);
      return this.finish(bundle, observer, plan, bundle.fromCache ? 'cache' : undefined);
    } catch (error) {
      // runPlan resolves by contract; a rejection is a bug, and twins must not wait on it.
      settleShared?.(undefined);
      throw error;
    } finally {
      if (settleShared && key !== undefined) this.inFlightByKey.delete(key);
    }
  }

  /**
   * Waits for a twin's run: `shared` with its bundle; `retry` when that run was cancelled or
   * timed out (its own caller's business) and this plan should run or wait for a new leader;
   * `ended` when this caller's own signal or deadline ended the wait.
   */
  private async follow(
    plan: Plan,
    leader: Promise<ArtifactBundle>,
    deadline: number,
    signal: AbortSignal | undefined,
    context: () => RunContext,
    started: number,
  ): Promise<{ kind: 'shared' | 'ended'; bundle: ArtifactBundle } | { kind: 'retry' }> {
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = Math.max(0, Math.round(deadline - performance.now()));
    const expired = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    let outcome: ArtifactBundle | undefined | 'timeout';
    try {
      outcome = await raceAbort(Promise.race([leader, expired]), signal);
    } catch {
      return { kind: 'ended', bundle: endedEarly(context(), stopReasonOf(signal?.reason), started) };
    } finally {
      clearTimeout(timer);
    }
    if (outcome === 'timeout') {
      const limitMs = plan.timeoutMs ?? this.options.defaultTimeoutMs;
      return { kind: 'ended', bundle: endedEarly(context(), new PTCTimeoutError(`The run timed out after ${limitMs} ms waiting for an identical run in flight`, limitMs), started) };
    }
    if (outcome === undefined || outcome.status === 'cancelled' || outcome.status === 'timeout') return { kind: 'retry' };
    return { kind: 'shared', bundle: outcome };
  }

  private finish(bundle: ArtifactBundle, observer: Observer | undefined, plan: Plan, hitSource: 'cache' | 'in-flight' | undefined): ArtifactBundle {
    if (this.durations.length < DURATION_WINDOW) this.durations.push(bundle.timings.totalMs);
    else this.durations[this.durationCursor] = bundle.timings.totalMs;
    this.durationCursor = (this.durationCursor + 1) % DURATION_WINDOW;
    if (bundle.status === 'success') this.counters.succeeded += 1;
    else if (bundle.status === 'cancelled') this.counters.cancelled += 1;
    else this.counters.failed += 1;
    if (bundle.fromCache) {
      // A hit spent no tokens of its own; the run that produced it has already been counted.
      this.counters.cacheHits += 1;
      if (hitSource === 'in-flight') this.deliver(observer, 'cache:hit', { executionId: plan.executionId, timestamp: Date.now(), cacheKey: bundle.cacheKey ?? '', source: 'in-flight' });
    } else {
      this.counters.tokens += totalTokens(bundle.usage);
      if (bundle.usage.costUsd !== null) this.counters.costUsd += bundle.usage.costUsd;
    }
    this.deliver(observer, 'run:end', {
      executionId: plan.executionId,
      timestamp: Date.now(),
      status: bundle.status,
      stopReason: bundle.stopReason,
      durationMs: bundle.timings.totalMs,
      fromCache: bundle.fromCache,
      // A copy: a listener must not be able to change the bundle the caller gets.
      usage: { ...bundle.usage },
    });
    return bundle;
  }

  private sinkFor(observer: Observer | undefined): EventSink {
    return {
      observed: (name) => observer !== undefined || this.listenerCount(name) > 0 || EVENTS_CHANNEL.hasSubscribers,
      emit: (name, payload) => this.deliver(observer, name, payload),
    };
  }

  /**
   * Emits to the run's stream and to every listener, secrets scrubbed. Each listener is called on
   * its own: one that throws is reported (`PTC_LISTENER_ERROR`) and the others still hear the
   * event, and the run it watches goes on.
   */
  private deliver<Name extends PTCEventName>(observer: Observer | undefined, name: Name, payload: PTCEventMap[Name]): void {
    if (observer === undefined && this.listenerCount(name) === 0 && !EVENTS_CHANNEL.hasSubscribers) return;
    const listeners = this.listeners(name);
    const safe = name === 'warning' || name === 'generation:end' || name === 'iteration:end' || name === 'generation:progress' ? this.redactor.value(payload) : payload;
    observer?.({ type: name, ...safe } as PTCStreamItem);
    if (EVENTS_CHANNEL.hasSubscribers) EVENTS_CHANNEL.publish({ type: name, ...safe });
    for (const listener of listeners) {
      // `once` listeners go before they run, as eventemitter3's own emit does.
      this.removeListener(name, listener, undefined, true);
      try {
        (listener as (value: PTCEventMap[Name]) => void).call(this, safe);
      } catch (error) {
        process.emitWarning(`a '${name}' listener threw: ${this.redactor.text(error instanceof Error ? error.message : String(error))}`, {
          code: 'PTC_LISTENER_ERROR',
        });
      }
    }
  }
}

/** The bundle of a run that never started: its caller cancelled, or its time ran out waiting. */
function endedEarly(context: RunContext, reason: Error, started: number): ArtifactBundle {
  const timedOut = reason instanceof PTCTimeoutError;
  // Its timings cover the wait, so stats' p50/p95 see how long the caller really waited.
  const bundle = new RunRecord(started).bundle(context, {
    stopReason: timedOut ? 'timeout' : 'cancelled',
    error: context.errorInfo(reason, timedOut ? 'TIMEOUT' : 'ABORTED'),
  });
  context.seal();
  return bundle;
}
