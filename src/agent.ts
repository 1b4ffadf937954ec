import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'eventemitter3';
import {
  type ArtifactBundle,
  ArtifactBundleSchema,
  type BundleFile,
  type BundleStatus,
  type ErrorInfo,
  type GeneratedFile,
  type IterationRecord,
  type StopReason,
  type TestReport,
  type Usage,
  UsageSchema,
  addUsage,
  emptyUsage,
  totalTokens,
} from './bundle.js';
import { cacheKey as computeCacheKey } from './cache-key.js';
import { KeyvCache } from './caches/keyv.js';
import { LocalSandboxRunner } from './runners/local.js';
import type { Cache } from './contracts/cache.js';
import type { CodeGenerator, GenerationRequest } from './contracts/code-generator.js';
import type { SandboxRunner, SandboxSession } from './contracts/sandbox-runner.js';
import { GenerationError, PTCAbortError, PTCError, PTCTimeoutError, type ErrorCode } from './errors.js';
import type { PTCEmitterEvents, PTCEventMap, PTCEventName, PTCStreamItem } from './events.js';
import { Semaphore, abortReason, raceAbort, throwIfAborted, withTimeout } from './internal/async.js';
import { checkGeneratedFiles, toBundleFile } from './internal/files.js';
import { normalizeRelativePath } from './internal/paths.js';
import { Redactor } from './internal/redact.js';
import { type Language, type Plan, type PlanInput, parsePlan } from './plan.js';
import { DEFAULT_TEST_PRESETS, type TestPreset } from './reports/presets.js';
import { formatCommand, runTests } from './reports/run-tests.js';

export interface FileLimitOptions {
  /** @default 200 */
  maxFiles?: number;
  /** @default 1048576 (1 MiB) */
  maxFileBytes?: number;
  /** @default 5242880 (5 MiB) */
  maxTotalBytes?: number;
}

export interface PTCAgentOptions {
  /** Writes the code and tests. */
  generator: CodeGenerator;
  /** Runs the tests. @default new LocalSandboxRunner() (isolation 'auto') */
  runner?: SandboxRunner;
  /** Where bundles are stored between runs; `false` turns caching off. @default new KeyvCache() (in memory) */
  cache?: Cache | false;
  /** Runs executing at once; the rest wait in a FIFO queue. @default 10 */
  maxConcurrent?: number;
  /** Wall-clock limit of a run (after it leaves the queue) when the plan sets none. @default 300000 */
  defaultTimeoutMs?: number;
  /** Limit of one test command, further bounded by what is left of the run. @default 120000 */
  testTimeoutMs?: number;
  /** Limit of each cache call; a slower cache counts as a miss. @default 1000 */
  cacheTimeoutMs?: number;
  /** How long to wait for a session to close before moving on (closing continues). @default 10000 */
  closeTimeoutMs?: number;
  /** Test presets by language, replacing the built-in ones. @default DEFAULT_TEST_PRESETS */
  testPresets?: Partial<Record<Language, TestPreset>>;
  /** Checks applied to every file a model returns. */
  fileLimits?: FileLimitOptions;
  /** Environment given to every sandbox command. The host's `process.env` never is. @default {} */
  sandboxEnv?: Record<string, string>;
  /**
   * Values to scrub from events, errors and bundles, on top of the values of host environment
   * variables whose names look secret (`*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`…). @default []
   */
  secrets?: string[];
}

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

type ResolvedOptions = Required<Omit<PTCAgentOptions, 'cache' | 'testPresets' | 'fileLimits' | 'secrets' | 'runner'>> & {
  runner: SandboxRunner;
  cache: Cache | undefined;
  testPresets: Record<Language, TestPreset>;
  fileLimits: Required<FileLimitOptions>;
};

type Observer = (item: PTCStreamItem) => void;

const DURATION_WINDOW = 1_000;
/** Stands in for a missing caller signal; nothing ever aborts it. */
const NEVER_ABORTED = new AbortController().signal;

/**
 * Prompt → Test → Code. `execute(plan)` has the generator write code and tests, runs them in a
 * sandbox, feeds failures back until the tests pass or a budget runs out, and resolves with a
 * validated bundle. It emits typed events (see `PTCEventMap`) while it works.
 *
 * A run that produced a bundle resolves, whatever its status; misuse (an invalid plan) rejects
 * with a `PTCError`.
 */
export class PTCAgent extends EventEmitter<PTCEmitterEvents> {
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
    this.redactor = new Redactor(options.secrets ?? []);
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
    const run = this.executePlan(plan, options.signal, observer).then(
      (bundle) => observer({ type: 'bundle', bundle }),
      (error: unknown) => {
        failure = error;
      },
    );
    void run.finally(() => {
      finished = true;
      wake?.();
    });
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
    const signal = callerSignal ?? NEVER_ABORTED;
    const preset = this.options.testPresets[plan.language];
    // The key serves the cache and single flight; a plan that opts out of both does not need one.
    const key = plan.cacheStrategy === 'never' ? undefined : computeCacheKey(plan, { generatorId: this.options.generator.id, testPresetId: preset.id });
    const cache = key === undefined ? undefined : this.options.cache;
    this.counters.total += 1;

    // Single flight: an identical plan already running is awaited instead of generated again.
    const leader = key === undefined ? undefined : this.inFlightByKey.get(key);
    if (leader && key !== undefined) {
      const shared = await this.followLeader(leader, plan, key, signal, observer);
      if (shared) return this.finish(shared, observer, plan);
    }

    let resolveShared: ((bundle: ArtifactBundle) => void) | undefined;
    const leading = key !== undefined && !this.inFlightByKey.has(key);
    if (leading) {
      this.inFlightByKey.set(
        key,
        new Promise<ArtifactBundle>((resolve) => {
          resolveShared = resolve;
        }),
      );
    }
    const run = new RunState(plan, preset, key, this, observer);
    try {
      const bundle = await this.queueAndRun(run, cache, signal);
      resolveShared?.(bundle);
      return this.finish(bundle, observer, plan);
    } finally {
      if (leading) this.inFlightByKey.delete(key);
    }
  }

  private async followLeader(
    leader: Promise<ArtifactBundle>,
    plan: Plan,
    key: string,
    signal: AbortSignal,
    observer: Observer | undefined,
  ): Promise<ArtifactBundle | undefined> {
    const started = performance.now();
    const startedAt = new Date();
    let bundle: ArtifactBundle;
    try {
      bundle = await raceAbort(leader, signal);
    } catch {
      // Our own signal aborted while waiting: nothing ran, nothing to close.
      const run = new RunState(plan, this.options.testPresets[plan.language], key, this, observer);
      return run.abortedBeforeStart(signal);
    }
    if (!isUsable(bundle, plan)) return undefined;
    this.emitFor(observer, 'cache:hit', { executionId: plan.executionId, timestamp: Date.now(), cacheKey: key, source: 'in-flight' });
    this.counters.cacheHits += 1;
    return asHit(bundle, plan, key, startedAt, performance.now() - started);
  }

  private async queueAndRun(run: RunState, cache: Cache | undefined, signal: AbortSignal): Promise<ArtifactBundle> {
    if (signal.aborted) return run.abortedBeforeStart(signal);
    const queuedAt = performance.now();
    if (this.semaphore.running >= this.options.maxConcurrent) {
      run.emit('run:queued', { queued: this.semaphore.queued + 1 });
    }
    let release: () => void;
    try {
      release = await this.semaphore.acquire(signal);
    } catch {
      return run.abortedBeforeStart(signal);
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
    (this.emit as (event: Name, value: PTCEventMap[Name]) => boolean)(name, safe);
    observer?.({ type: name, ...safe } as PTCStreamItem);
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

/** Whether a bundle produced by a twin run may stand in for this plan's own run. */
function isUsable(bundle: ArtifactBundle, plan: Plan): boolean {
  if (plan.cacheStrategy === 'always') return bundle.status === 'success' || bundle.status === 'partial_success';
  return bundle.status === 'success' && (!plan.enableTesting || bundle.testReport !== undefined);
}

function asHit(bundle: ArtifactBundle, plan: Plan, key: string, startedAt: Date, waitedMs: number): ArtifactBundle {
  return {
    ...bundle,
    executionId: plan.executionId,
    fromCache: true,
    cacheKey: key,
    timings: {
      startedAt: startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      totalMs: waitedMs,
      queuedMs: 0,
      cacheMs: waitedMs,
      sandboxOpenMs: 0,
      generationMs: 0,
      testMs: 0,
    },
  };
}

/** How a run ended, before its bundle is built: status, why it stopped, and the error if any. */
type Outcome = [status: BundleStatus, stopReason: StopReason, error?: ErrorInfo];

function outcome(status: BundleStatus, stopReason: StopReason, error?: ErrorInfo): Outcome {
  return error ? [status, stopReason, error] : [status, stopReason];
}

/** One run of one plan: the loop of DESIGN.md, with its bookkeeping. */
class RunState {
  queuedMs = 0;
  private readonly startedAt = new Date();
  private readonly started = performance.now();
  private readonly iterations: IterationRecord[] = [];
  private readonly filesByIteration = new Map<number, BundleFile[]>();
  private readonly warnings: string[] = [];
  private usage: Usage = emptyUsage();
  private cacheMs = 0;
  private sandboxOpenMs = 0;
  private generationMs = 0;
  private testMs = 0;
  private sandboxInfo: { runner: string; id: string } | undefined;
  private aborted: Promise<never> | undefined;

  constructor(
    private readonly plan: Plan,
    private readonly preset: TestPreset,
    private readonly key: string | undefined,
    private readonly agent: PTCAgent,
    private readonly observer: Observer | undefined,
  ) {}

  /** Settles with `work`, or rejects as soon as the run aborts, even if an adapter ignores its signal. */
  private guard<T>(work: Promise<T>): Promise<T> {
    if (!this.aborted) throw new Error('guard() used before the run started');
    return Promise.race([work, this.aborted]);
  }

  emit<Name extends PTCEventName>(name: Name, fields: Omit<PTCEventMap[Name], 'executionId' | 'timestamp'>): void {
    if (!this.agent.isObserved(name, this.observer)) return;
    this.agent.emitFor(this.observer, name, { executionId: this.plan.executionId, timestamp: Date.now(), ...fields } as PTCEventMap[Name]);
  }

  warn(code: string, message: string): void {
    const safe = this.agent.redact.text(message);
    this.warnings.push(safe);
    this.emit('warning', { code, message: safe });
  }

  abortedBeforeStart(signal: AbortSignal): ArtifactBundle {
    const reason = abortReason(signal);
    const timedOut = reason instanceof PTCTimeoutError;
    return this.build(timedOut ? 'timeout' : 'cancelled', timedOut ? 'timeout' : 'cancelled', errorInfo(reason));
  }

  async execute(cache: Cache | undefined, callerSignal: AbortSignal): Promise<ArtifactBundle> {
    const options = this.agent.resolved;
    const timeoutMs = this.plan.timeoutMs ?? options.defaultTimeoutMs;
    const controller = new AbortController();
    // One promise per run that rejects on abort, rejected where the run is aborted: racing it is
    // cheaper than a listener per await, and needs no listener on the run's own signal.
    let rejectAborted!: (reason: unknown) => void;
    this.aborted = new Promise<never>((_, reject) => {
      rejectAborted = reject;
    });
    this.aborted.catch(() => {});
    const abort = (reason: unknown) => {
      if (controller.signal.aborted) return;
      controller.abort(reason);
      rejectAborted(abortReason(controller.signal));
    };
    const onCallerAbort = () => abort(callerSignal.reason ?? new PTCAbortError('The run was cancelled'));
    if (callerSignal.aborted) onCallerAbort();
    else if (callerSignal !== NEVER_ABORTED) callerSignal.addEventListener('abort', onCallerAbort, { once: true });
    const timer = setTimeout(() => abort(new PTCTimeoutError(`The run timed out after ${timeoutMs} ms`, timeoutMs)), timeoutMs);
    const signal = controller.signal;
    let openPromise: Promise<SandboxSession> | undefined;
    let outcome: Outcome;
    try {
      this.emit('run:start', {
        language: this.plan.language,
        maxIterations: this.plan.maxIterations,
        generator: options.generator.id,
        runner: options.runner.id,
      });
      if (cache && this.key !== undefined) {
        const hit = await this.lookup(cache, this.key, signal);
        if (hit) return hit;
      }
      if (this.plan.enableTesting) {
        openPromise = this.openSandbox(signal);
        // The loop awaits it later; until then a rejection is handled there, not unhandled.
        openPromise.catch(() => {});
      }
      outcome = await this.loop(openPromise, signal);
    } catch (error) {
      if (signal.aborted) {
        const reason = abortReason(signal);
        const timedOut = reason instanceof PTCTimeoutError;
        outcome = [timedOut ? 'timeout' : 'cancelled', timedOut ? 'timeout' : 'cancelled', errorInfo(reason)];
      } else {
        // A bug in an adapter that escaped its contract: the run still ends with a bundle.
        outcome = [this.bestFiles() ? 'partial_success' : 'failure', 'sandbox_failed', errorInfo(error)];
      }
    } finally {
      clearTimeout(timer);
      callerSignal.removeEventListener('abort', onCallerAbort);
    }
    // Closed before the bundle is built, so whatever closing reports is in it.
    if (openPromise) await this.closeSession(openPromise);
    const bundle = this.build(...outcome);
    if (cache) await this.store(cache, bundle, callerSignal);
    return bundle;
  }

  private async lookup(cache: Cache, key: string, signal: AbortSignal): Promise<ArtifactBundle | undefined> {
    const options = this.agent.resolved;
    const started = performance.now();
    let raw: unknown;
    try {
      raw = await withTimeout((callSignal) => cache.get(key, { signal: callSignal }), options.cacheTimeoutMs, signal, 'cache read');
    } catch (error) {
      throwIfAborted(signal);
      this.warn('CACHE_FAILED', `cache read failed, continuing without it: ${describe(error)}`);
      raw = undefined;
    }
    this.cacheMs += performance.now() - started;
    if (raw !== undefined && raw !== null) {
      const parsed = ArtifactBundleSchema.safeParse(raw);
      if (!parsed.success) {
        this.warn('CACHE_FAILED', 'a cached entry failed validation and was ignored');
      } else if (isUsable(parsed.data, this.plan)) {
        this.agent.countCacheHit();
        this.emit('cache:hit', { cacheKey: key, source: 'cache' });
        return asHit(parsed.data, this.plan, key, this.startedAt, performance.now() - this.started);
      }
    }
    this.emit('cache:miss', { cacheKey: key });
    return undefined;
  }

  private async store(cache: Cache, bundle: ArtifactBundle, signal: AbortSignal): Promise<void> {
    const key = this.key;
    if (key === undefined || !isUsable(bundle, this.plan)) return;
    const options = this.agent.resolved;
    try {
      await withTimeout(
        (callSignal) => cache.set(key, bundle, { ttlMs: this.plan.cacheTtlMs, signal: callSignal }),
        options.cacheTimeoutMs,
        signal,
        'cache write',
      );
    } catch (error) {
      if (signal.aborted) return;
      this.warn('CACHE_FAILED', `cache write failed; the result was not stored: ${describe(error)}`);
    }
  }

  private openSandbox(signal: AbortSignal): Promise<SandboxSession> {
    const options = this.agent.resolved;
    const started = performance.now();
    const dependencies = [...new Set([...this.preset.requiredDependencies, ...this.plan.dependencies])];
    return options.runner
      .open({
        executionId: this.plan.executionId,
        language: this.plan.language,
        dependencies,
        env: options.sandboxEnv,
        signal,
        onDependenciesInstalled: (info) => this.emit('dependencies:installed', info),
      })
      .then((session) => {
        this.sandboxOpenMs = performance.now() - started;
        this.sandboxInfo = { runner: options.runner.id, id: session.id };
        this.emit('sandbox:ready', { sandboxId: session.id, runner: options.runner.id, durationMs: this.sandboxOpenMs, dependencies: dependencies.length });
        return session;
      });
  }

  private async closeSession(openPromise: Promise<SandboxSession>): Promise<void> {
    const options = this.agent.resolved;
    // The open may still be in flight (aborted runs); whenever it lands, the session is closed.
    const closing = openPromise.then(
      (session) => session.close(),
      () => undefined,
    );
    const guarded = closing.catch((error: unknown) => {
      this.warn('SANDBOX_FAILED', `closing the sandbox failed: ${describe(error)}`);
    });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), options.closeTimeoutMs);
    });
    const outcome = await Promise.race([guarded, timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') this.warn('SANDBOX_FAILED', `the sandbox did not close within ${options.closeTimeoutMs} ms; closing continues in the background`);
  }

  private async loop(openPromise: Promise<SandboxSession> | undefined, signal: AbortSignal): Promise<Outcome> {
    const options = this.agent.resolved;
    const protectedPaths = new Set(this.plan.acceptanceTests.map((file) => normalizeRelativePath(file.path)));
    const protectedList = [...protectedPaths];
    const acceptanceFiles = this.plan.acceptanceTests.map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
    let session: SandboxSession | undefined;
    let previousFiles: GeneratedFile[] = [];
    let previousReport: TestReport | undefined;
    let problem: string | undefined;
    let writtenPaths = new Set<string>();
    let lastError: ErrorInfo | undefined;

    for (let iteration = 1; iteration <= this.plan.maxIterations; iteration += 1) {
      throwIfAborted(signal);
      const request: GenerationRequest = {
        executionId: this.plan.executionId,
        iteration,
        plan: this.plan,
        testPreset: this.preset,
        previousFiles,
        failures: previousReport ? failingCases(previousReport) : [],
        protectedPaths: protectedList,
      };
      // Assigned, not spread: exactOptionalPropertyTypes wants absent keys, and spreads are slow.
      const optional = request as { -readonly [Key in keyof GenerationRequest]: GenerationRequest[Key] };
      if (previousReport) optional.previousReport = previousReport;
      if (problem !== undefined) optional.problem = problem;
      if (this.plan.budget.maxTokens !== undefined) optional.remainingTokens = Math.max(0, this.plan.budget.maxTokens - totalTokens(this.usage));
      const record: IterationRecord = { iteration, files: [], usage: emptyUsage(), generationMs: 0, testMs: 0 };
      this.iterations.push(record);

      // 1. Generate.
      this.emit('generation:start', { iteration });
      const generationStarted = performance.now();
      let output: Awaited<ReturnType<CodeGenerator['generate']>> | undefined;
      let generationError: unknown;
      try {
        output = await this.guard(
          options.generator.generate(request, {
            signal,
            onProgress: (progress) => this.emit('generation:progress', { iteration, ...progress }),
          }),
        );
      } catch (error) {
        throwIfAborted(signal);
        generationError = error;
      }
      record.generationMs = performance.now() - generationStarted;
      this.generationMs += record.generationMs;

      if (!output) {
        const info = this.errorInfo(generationError, 'GENERATION_FAILED');
        if (generationError instanceof GenerationError && generationError.usage) this.addUsage(record, generationError.usage);
        record.error = info;
        lastError = info;
        this.emit('generation:end', { iteration, files: 0, usage: record.usage, durationMs: record.generationMs, error: info });
        this.emit('iteration:end', { iteration, passed: 0, failed: 0, success: false, error: info });
        if (generationError instanceof GenerationError && !generationError.retryable) {
          return outcome(this.bestFiles() ? 'partial_success' : 'failure', 'generation_failed', info);
        }
        problem = `The previous attempt failed: ${info.message}`;
        const budgetStop = this.budgetExhausted();
        if (budgetStop) return this.stopForBudget(budgetStop);
        continue;
      }
      const usage = UsageSchema.safeParse(output.usage);
      if (usage.success) this.addUsage(record, usage.data);
      else this.warn('USAGE_INVALID', `iteration ${iteration}: the generator reported invalid usage; it was not counted`);
      if (output.notes !== undefined) record.notes = this.agent.redact.text(output.notes);

      // 2. Check what the model wrote before any sandbox sees it.
      const checked = checkGeneratedFiles(output.files, options.fileLimits, protectedPaths);
      for (const notice of checked.notices) this.warn('OUTPUT_DUPLICATE', `iteration ${iteration}: ${notice}`);
      this.emit('generation:end', { iteration, files: checked.files.length, usage: record.usage, durationMs: record.generationMs });
      if (checked.violations.length > 0) {
        const info: ErrorInfo = { code: 'OUTPUT_REJECTED', message: `The output was rejected: ${checked.violations.join('; ')}` };
        record.error = info;
        lastError = info;
        this.emit('iteration:end', { iteration, passed: 0, failed: 0, success: false, error: info });
        problem = info.message;
        // The model gets its own files back to fix, as far as they were usable.
        if (checked.files.length > 0) previousFiles = checked.files;
        const budgetStop = this.budgetExhausted();
        if (budgetStop) return this.stopForBudget(budgetStop);
        continue;
      }
      const bundled = checked.files.map((file) => toBundleFile(file));
      record.files = bundled.map(({ path, sha256, bytes }) => ({ path, sha256, bytes }));
      this.filesByIteration.set(iteration, bundled);
      previousFiles = checked.files;
      problem = undefined;

      if (!this.plan.enableTesting || !openPromise) {
        this.emit('iteration:end', { iteration, passed: 0, failed: 0, success: true });
        return outcome('success', 'testing_disabled');
      }

      // 3. Write and run the tests in the one session of this run.
      const testStarted = performance.now();
      try {
        if (!session) {
          session = await this.guard(openPromise);
          if (acceptanceFiles.length > 0) await this.guard(session.writeFiles(acceptanceFiles, { signal }));
        }
        const currentPaths = new Set(checked.files.map((file) => file.path));
        const stale = [...writtenPaths].filter((path) => !currentPaths.has(path));
        if (stale.length > 0) await this.guard(session.removeFiles(stale, { signal }));
        await this.guard(session.writeFiles(checked.files.map(({ path, content }) => ({ path, content })), { signal }));
        writtenPaths = currentPaths;
        const testFiles = [...acceptanceFiles.map((file) => file.path), ...checked.files.filter((file) => file.kind === 'test').map((file) => file.path)];
        if (this.agent.isObserved('tests:start', this.observer)) {
          this.emit('tests:start', { iteration, command: formatCommand(this.preset.appendTestFiles ? [...this.preset.command, ...testFiles] : this.preset.command) });
        }
        const remainingMs = Math.max(1, (this.plan.timeoutMs ?? options.defaultTimeoutMs) - (performance.now() - this.started));
        const report = await this.guard(
          runTests(session, this.preset, { timeoutMs: Math.min(options.testTimeoutMs, remainingMs), signal, testFiles }),
        );
        record.testReport = this.redactReport(report);
      } catch (error) {
        throwIfAborted(signal);
        record.testMs = performance.now() - testStarted;
        this.testMs += record.testMs;
        const info = this.errorInfo(error, 'SANDBOX_FAILED');
        record.error = info;
        this.emit('iteration:end', { iteration, passed: 0, failed: 0, success: false, error: info });
        // Without a working sandbox no later iteration can be tested either.
        return outcome('failure', 'sandbox_failed', info);
      }
      record.testMs = performance.now() - testStarted;
      this.testMs += record.testMs;
      const report = record.testReport;
      this.emit('tests:end', {
        iteration,
        passed: report.passed,
        failed: report.failed,
        errored: report.errored,
        skipped: report.skipped,
        success: report.success,
        durationMs: record.testMs,
      });
      this.emit('iteration:end', { iteration, passed: report.passed, failed: report.failed + report.errored, success: report.success });
      if (report.success) return outcome('success', 'tests_passed');
      previousReport = report;
      lastError = {
        code: 'TESTS_FAILED',
        message: report.problem ?? `${report.failed + report.errored} of ${report.passed + report.failed + report.errored} tests failed`,
      };
      const budgetStop = this.budgetExhausted();
      if (budgetStop) return this.stopForBudget(budgetStop);
    }
    const anyFiles = this.bestFiles() !== undefined;
    if (!anyFiles) return outcome('failure', 'generation_failed', lastError ?? { code: 'GENERATION_FAILED', message: 'no iteration produced usable files' });
    return outcome('partial_success', 'max_iterations', {
      code: 'TESTS_FAILED',
      message: `tests still failing after ${this.plan.maxIterations} iteration(s): ${lastError?.message ?? 'see the test report'}`,
    });
  }

  /** Error details as stored in records and events: secrets scrubbed. */
  private errorInfo(error: unknown, fallback: ErrorCode): ErrorInfo {
    const info = errorInfo(error, fallback);
    return { code: info.code, message: this.agent.redact.text(info.message) };
  }

  private addUsage(record: IterationRecord, usage: Usage): void {
    record.usage = addUsage(record.usage, usage);
    this.usage = addUsage(this.usage, usage);
  }

  private budgetExhausted(): 'token_budget' | 'cost_budget' | undefined {
    const { maxTokens, maxCostUsd } = this.plan.budget;
    if (maxTokens !== undefined && totalTokens(this.usage) >= maxTokens) return 'token_budget';
    if (maxCostUsd !== undefined && this.usage.costUsd !== null && this.usage.costUsd >= maxCostUsd) return 'cost_budget';
    return undefined;
  }

  private stopForBudget(reason: 'token_budget' | 'cost_budget'): Outcome {
    const message =
      reason === 'token_budget'
        ? `the token budget of ${this.plan.budget.maxTokens} was used up (${totalTokens(this.usage)} tokens)`
        : `the cost budget of ${this.plan.budget.maxCostUsd} USD was used up (${this.usage.costUsd} USD)`;
    return outcome(this.bestFiles() ? 'partial_success' : 'failure', reason, { code: 'BUDGET_EXHAUSTED', message });
  }

  /** The iteration whose files to return: green first, else most passing tests, later wins ties. */
  private bestFiles(): { iteration: number; files: BundleFile[] } | undefined {
    let best: { iteration: number; files: BundleFile[]; score: number } | undefined;
    for (const record of this.iterations) {
      const files = this.filesByIteration.get(record.iteration);
      if (!files) continue;
      const score = record.testReport ? (record.testReport.success ? Number.MAX_SAFE_INTEGER : record.testReport.passed) : -1;
      if (!best || score >= best.score) best = { iteration: record.iteration, files, score };
    }
    return best;
  }

  private redactReport(report: TestReport): TestReport {
    return this.agent.redact.size === 0 ? report : this.agent.redact.value(report);
  }

  build(status: BundleStatus, stopReason: StopReason, error?: ErrorInfo): ArtifactBundle {
    const best = this.bestFiles();
    const bestRecord = best ? this.iterations.find((record) => record.iteration === best.iteration) : undefined;
    const files = [
      ...(best?.files ?? []),
      ...this.plan.acceptanceTests.map((file) => toBundleFile({ path: normalizeRelativePath(file.path), content: file.content, kind: 'test' }, true)),
    ];
    const ended = new Date();
    const bundle: ArtifactBundle = {
      executionId: this.plan.executionId,
      status,
      stopReason,
      files,
      bestIteration: best?.iteration ?? 0,
      iterations: this.iterations,
      usage: this.usage,
      timings: {
        startedAt: this.startedAt.toISOString(),
        endedAt: ended.toISOString(),
        totalMs: performance.now() - this.started,
        queuedMs: this.queuedMs,
        cacheMs: this.cacheMs,
        sandboxOpenMs: this.sandboxOpenMs,
        generationMs: this.generationMs,
        testMs: this.testMs,
      },
      fromCache: false,
      generator: this.agent.resolved.generator.id,
      language: this.plan.language,
      warnings: this.warnings,
    };
    if (bestRecord?.testReport) bundle.testReport = bestRecord.testReport;
    if (this.key !== undefined) bundle.cacheKey = this.key;
    if (this.sandboxInfo) bundle.sandbox = this.sandboxInfo;
    if (error && status !== 'success') bundle.error = { code: error.code, message: this.agent.redact.text(error.message) };
    // Correct by construction: every input was validated where it entered (plan, generator
    // output and usage, cache entries), and the tests check every bundle against the schema.
    return bundle;
  }
}

function failingCases(report: TestReport) {
  return report.cases
    .filter((testCase) => testCase.status === 'failed' || testCase.status === 'errored')
    .sort((a, b) => (a.status === b.status ? 0 : a.status === 'errored' ? -1 : 1));
}

function errorInfo(error: unknown, fallback: ErrorCode = 'SANDBOX_FAILED'): ErrorInfo {
  if (error instanceof PTCError) return { code: error.code, message: error.message };
  return { code: fallback, message: describe(error) };
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message.slice(0, 2_000);
  return String(error).slice(0, 2_000);
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

function resolveOptions(options: PTCAgentOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') throw new TypeError('PTCAgent options are required');
  const { generator } = options;
  const runner = options.runner ?? new LocalSandboxRunner();
  if (!generator || typeof generator.generate !== 'function' || typeof generator.id !== 'string') {
    throw new TypeError('generator must be a CodeGenerator (an object with an id and generate())');
  }
  if (!runner || typeof runner.open !== 'function' || typeof runner.id !== 'string') {
    throw new TypeError('runner must be a SandboxRunner (an object with an id and open())');
  }
  const cache = options.cache === false ? undefined : (options.cache ?? new KeyvCache());
  if (cache && (typeof cache.get !== 'function' || typeof cache.set !== 'function')) {
    throw new TypeError('cache must be a Cache (get, set, delete) or false');
  }
  const sandboxEnv = options.sandboxEnv ?? {};
  for (const [name, value] of Object.entries(sandboxEnv)) {
    if (typeof value !== 'string') throw new TypeError(`sandboxEnv.${name} must be a string`);
  }
  const limits = options.fileLimits ?? {};
  return {
    generator,
    runner,
    cache,
    maxConcurrent: positiveInteger('maxConcurrent', options.maxConcurrent, 10),
    defaultTimeoutMs: positiveInteger('defaultTimeoutMs', options.defaultTimeoutMs, 300_000),
    testTimeoutMs: positiveInteger('testTimeoutMs', options.testTimeoutMs, 120_000),
    cacheTimeoutMs: positiveInteger('cacheTimeoutMs', options.cacheTimeoutMs, 1_000),
    closeTimeoutMs: positiveInteger('closeTimeoutMs', options.closeTimeoutMs, 10_000),
    testPresets: { ...DEFAULT_TEST_PRESETS, ...options.testPresets },
    fileLimits: {
      maxFiles: positiveInteger('fileLimits.maxFiles', limits.maxFiles, 200),
      maxFileBytes: positiveInteger('fileLimits.maxFileBytes', limits.maxFileBytes, 1_048_576),
      maxTotalBytes: positiveInteger('fileLimits.maxTotalBytes', limits.maxTotalBytes, 5_242_880),
    },
    sandboxEnv,
  };
}
