import { EventEmitter } from 'eventemitter3';
import { type ArtifactBundle, totalTokens } from './bundle.js';
import { cacheKey as computeCacheKey } from './cache-key.js';
import type { Cache } from './contracts/cache.js';
import type { PTCEmitterEvents, PTCEventMap, PTCEventName, PTCStreamItem } from './events.js';
import { Semaphore, raceAbort } from './internal/async.js';
import { PTCAbortError, PTCTimeoutError } from './errors.js';
import { Redactor } from './internal/redact.js';
import { type PTCAgentOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { type Language, type Plan, type PlanInput, parsePlan } from './plan.js';
import type { TestPreset } from './reports/presets.js';
import { type Observer, type RunHost, RunState, asHit, isUsable } from './run.js';

export type { FileLimitOptions, PTCAgentOptions } from './options.js';


export interface ExecuteOptions {
  /** Cancels the run: it still closes its sandbox and resolves with status `cancelled`. */
  signal?: AbortSignal;
}

export interface AgentStats {
  /** Runs started (cache hits included). */
  total: number;
  succeeded: number;
  /** Runs that ended in any status but `success`. */
  failed: number;
  cacheHits: number;
  inFlight: number;
  queued: number;
  tokens: number;
  /** USD over runs whose cost is known. */
  costUsd: number;
  /** Over the last 1,000 runs, in ms; 0 before the first run. */
  p50DurationMs: number;
  p95DurationMs: number;
}

const DURATION_WINDOW = 1_000;

/**
 * Prompt → Test → Code. `execute(plan)` has the generator write code and tests, runs them in a
 * sandbox, feeds failures back until the tests pass or a budget runs out, and resolves with a
 * validated bundle. It emits typed events (see `PTCEventMap`) while it works.
 *
 * A run that produced a bundle resolves, whatever its status; misuse (an invalid plan) rejects
 * with a `PTCError`.
 */
export class PTCAgent extends EventEmitter<PTCEmitterEvents> implements RunHost {
  private readonly options: ResolvedOptions;
  private readonly semaphore: Semaphore;
  private readonly redactor: Redactor;
  private readonly inFlightByKey = new Map<string, Promise<ArtifactBundle>>();
  private readonly durations: number[] = [];
  private durationCursor = 0;
  private counters = { total: 0, succeeded: 0, failed: 0, cacheHits: 0, tokens: 0, costUsd: 0 };

  constructor(options: PTCAgentOptions) {
    super();
    this.options = resolveOptions(options);
    this.semaphore = new Semaphore(this.options.maxConcurrent);
    // Secret-looking sandboxEnv entries count too: tests can print their environment into a report.
    this.redactor = new Redactor(options.secrets ?? [], { ...process.env, ...this.options.sandboxEnv });
  }

  /** Runs a plan to a bundle. Rejects only for an invalid plan (`PlanValidationError`). */
  async execute(planInput: PlanInput | Plan, options: ExecuteOptions = {}): Promise<ArtifactBundle> {
    const plan = parsePlan(planInput);
    return this.executePlan(plan, options.signal, undefined);
  }

  /**
   * The run's events as an async iterable, ending with `{ type: 'bundle', bundle }`. The plan is
   * validated before the first item; an invalid plan makes the iteration throw.
   */
  async *stream(planInput: PlanInput | Plan, options: ExecuteOptions = {}): AsyncGenerator<PTCStreamItem, void, undefined> {
    const plan = parsePlan(planInput);
    const items: PTCStreamItem[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const observer: Observer = (item) => {
      items.push(item);
      wake?.();
    };
    // A consumer that stops reading (a closed SSE connection) cancels the run instead of leaving
    // it to generate and test for nobody while its events pile up.
    const controller = new AbortController();
    const callerSignal = options.signal;
    const onCallerAbort = () => controller.abort(callerSignal?.reason);
    if (callerSignal?.aborted) onCallerAbort();
    else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    const run = this.executePlan(plan, controller.signal, observer).then(
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
    const plan = parsePlan(planInput);
    return computeCacheKey(plan, { generatorId: this.options.generator.id, testPresetId: this.testPresetFor(plan.language).id });
  }

  private async executePlan(plan: Plan, callerSignal: AbortSignal | undefined, observer: Observer | undefined): Promise<ArtifactBundle> {
    const preset = this.options.testPresets[plan.language];
    // The key serves the cache and single flight; a plan that opts out of both does not need one.
    const key = plan.cacheStrategy === 'never' ? undefined : computeCacheKey(plan, { generatorId: this.options.generator.id, testPresetId: preset.id });
    const cache = key === undefined ? undefined : this.options.cache;
    this.counters.total += 1;

    // Single flight: an identical plan already running is awaited instead of generated again.
    const leader = key === undefined ? undefined : this.inFlightByKey.get(key);
    if (leader && key !== undefined) {
      const shared = await this.followLeader(leader, plan, key, callerSignal, observer);
      if (shared) return this.finish(shared, observer, plan);
    }

    let settleShared: { resolve: (bundle: ArtifactBundle) => void; reject: (error: unknown) => void } | undefined;
    const leading = key !== undefined && !this.inFlightByKey.has(key);
    if (leading) {
      const shared = new Promise<ArtifactBundle>((resolve, reject) => {
        settleShared = { resolve, reject };
      });
      // Followers handle a failed leader themselves; nobody else may see an unhandled rejection.
      shared.catch(() => {});
      this.inFlightByKey.set(key, shared);
    }
    const run = new RunState(plan, preset, key, this, observer);
    try {
      const bundle = await this.queueAndRun(run, cache, callerSignal);
      settleShared?.resolve(bundle);
      return this.finish(bundle, observer, plan);
    } catch (error) {
      settleShared?.reject(error);
      throw error;
    } finally {
      if (leading) this.inFlightByKey.delete(key);
    }
  }

  private async followLeader(
    leader: Promise<ArtifactBundle>,
    plan: Plan,
    key: string,
    signal: AbortSignal | undefined,
    observer: Observer | undefined,
  ): Promise<ArtifactBundle | undefined> {
    const started = performance.now();
    const startedAt = new Date();
    // A follower keeps its own deadline: its twin may have been given far more time.
    const timeoutMs = plan.timeoutMs ?? this.options.defaultTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    let outcome: ArtifactBundle | 'timeout' | 'failed';
    try {
      outcome = await raceAbort(
        Promise.race([leader.catch(() => 'failed' as const), deadline]),
        signal,
      );
    } catch (reason) {
      // Only our own signal rejects this wait (with its reason): nothing ran, nothing to close.
      return new RunState(plan, this.options.testPresets[plan.language], key, this, observer).endedBeforeStart(reason as Error);
    } finally {
      clearTimeout(timer);
    }
    if (outcome === 'timeout') {
      return new RunState(plan, this.options.testPresets[plan.language], key, this, observer).endedBeforeStart(
        new PTCTimeoutError(`The run timed out after ${timeoutMs} ms waiting for an identical run in flight`, timeoutMs),
      );
    }
    // A leader that failed or produced nothing usable: this plan runs on its own.
    if (outcome === 'failed' || !isUsable(outcome, plan)) return undefined;
    this.emitFor(observer, 'cache:hit', { executionId: plan.executionId, timestamp: Date.now(), cacheKey: key, source: 'in-flight' });
    this.counters.cacheHits += 1;
    return asHit(outcome, plan, key, startedAt, performance.now() - started);
  }

  private async queueAndRun(run: RunState, cache: Cache | undefined, signal: AbortSignal | undefined): Promise<ArtifactBundle> {
    if (signal?.aborted) return run.abortedBeforeStart(signal);
    const queuedAt = performance.now();
    if (this.semaphore.running >= this.options.maxConcurrent) {
      run.emit('run:queued', { queued: this.semaphore.queued + 1 });
    }
    let release: () => void;
    try {
      release = await this.semaphore.acquire(signal);
    } catch (reason) {
      // Only our own signal rejects a queued wait, with its reason.
      return run.endedBeforeStart(reason as Error);
    }
    run.queuedMs = performance.now() - queuedAt;
    try {
      return await run.execute(cache, signal);
    } finally {
      release();
    }
  }

  private finish(bundle: ArtifactBundle, observer: Observer | undefined, plan: Plan): ArtifactBundle {
    const record = (durationMs: number) => {
      if (this.durations.length < DURATION_WINDOW) this.durations.push(durationMs);
      else this.durations[this.durationCursor] = durationMs;
      this.durationCursor = (this.durationCursor + 1) % DURATION_WINDOW;
    };
    record(bundle.timings.totalMs);
    if (bundle.status === 'success') this.counters.succeeded += 1;
    else this.counters.failed += 1;
    // A hit spent no tokens of its own; the run that produced it has already been counted.
    if (!bundle.fromCache) {
      this.counters.tokens += totalTokens(bundle.usage);
      if (bundle.usage.costUsd !== null) this.counters.costUsd += bundle.usage.costUsd;
    }
    if (this.isObserved('run:end', observer)) this.emitFor(observer, 'run:end', {
      executionId: plan.executionId,
      timestamp: Date.now(),
      status: bundle.status,
      stopReason: bundle.stopReason,
      durationMs: bundle.timings.totalMs,
      fromCache: bundle.fromCache,
      usage: bundle.usage,
    });
    return bundle;
  }

  /** @internal Whether anyone listens: payloads are not even built for nobody. */
  isObserved(name: PTCEventName, observer: Observer | undefined): boolean {
    return observer !== undefined || this.listenerCount(name) > 0;
  }

  /** @internal Emits to listeners and to the run's stream, scrubbing secrets first. */
  emitFor<Name extends PTCEventName>(observer: Observer | undefined, name: Name, payload: PTCEventMap[Name]): void {
    const safe = name === 'warning' || name === 'generation:end' || name === 'iteration:end' || name === 'generation:progress' ? this.redactor.value(payload) : payload;
    observer?.({ type: name, ...safe } as PTCStreamItem);
    try {
      (this.emit as (event: Name, value: PTCEventMap[Name]) => boolean)(name, safe);
    } catch (error) {
      // Events observe: a listener that throws must not fail, hang or leak the run it watches.
      process.emitWarning(`a '${name}' listener threw: ${this.redactor.text(error instanceof Error ? error.message : String(error))}`, {
        code: 'PTC_LISTENER_ERROR',
      });
    }
  }

  /** @internal */
  get resolved(): ResolvedOptions {
    return this.options;
  }

  /** @internal */
  get redact(): Redactor {
    return this.redactor;
  }

  /** @internal */
  countCacheHit(): void {
    this.counters.cacheHits += 1;
  }
}

