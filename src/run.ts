import { performance } from 'node:perf_hooks';
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
import type { Cache } from './contracts/cache.js';
import type { CodeGenerator, GenerationRequest } from './contracts/code-generator.js';
import type { SandboxSession } from './contracts/sandbox-runner.js';
import { GenerationError, PathSafetyError, PTCAbortError, PTCError, PTCTimeoutError, type ErrorCode } from './errors.js';
import type { PTCEventMap, PTCEventName, PTCStreamItem } from './events.js';
import { abortReason, throwIfAborted, withTimeout } from './internal/async.js';
import { checkGeneratedFiles, toBundleFile } from './internal/files.js';
import { normalizeRelativePath } from './internal/paths.js';
import { trimMiddle } from './internal/text.js';
import type { Redactor } from './internal/redact.js';
import type { ResolvedOptions } from './options.js';
import type { Plan } from './plan.js';
import type { TestPreset } from './reports/presets.js';
import { formatCommand, runTests } from './reports/run-tests.js';

/** Receives every event of one run (what `PTCAgent.stream()` listens with). */
export type Observer = (item: PTCStreamItem) => void;

/** Model-supplied text kept in records and events: enough to read, never a memory hazard. */
const MAX_NOTES_CHARS = 20_000;
const MAX_PROGRESS_MESSAGE_CHARS = 2_000;


/** What a run needs from the agent that started it. */
export interface RunHost {
  readonly resolved: ResolvedOptions;
  readonly redact: Redactor;
  isObserved(name: PTCEventName, observer: Observer | undefined): boolean;
  emitFor<Name extends PTCEventName>(observer: Observer | undefined, name: Name, payload: PTCEventMap[Name]): void;
  countCacheHit(): void;
}

/** Whether a bundle produced by a twin run may stand in for this plan's own run. */
export function isUsable(bundle: ArtifactBundle, plan: Plan): boolean {
  if (plan.cacheStrategy === 'always') return bundle.status === 'success' || bundle.status === 'partial_success';
  return bundle.status === 'success' && (!plan.enableTesting || bundle.testReport !== undefined);
}

export function asHit(bundle: ArtifactBundle, plan: Plan, key: string, startedAt: Date, waitedMs: number): ArtifactBundle {
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
export class RunState {
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
  /** When the run left the queue; its timeout counts from here. */
  private runStarted = 0;

  constructor(
    private readonly plan: Plan,
    private readonly preset: TestPreset,
    private readonly key: string | undefined,
    private readonly host: RunHost,
    private readonly observer: Observer | undefined,
  ) {}

  /** Settles with `work`, or rejects as soon as the run aborts, even if an adapter ignores its signal. */
  private guard<T>(work: Promise<T>): Promise<T> {
    if (!this.aborted) throw new Error('guard() used before the run started');
    return Promise.race([work, this.aborted]);
  }

  emit<Name extends PTCEventName>(name: Name, fields: Omit<PTCEventMap[Name], 'executionId' | 'timestamp'>): void {
    if (!this.host.isObserved(name, this.observer)) return;
    this.host.emitFor(this.observer, name, { executionId: this.plan.executionId, timestamp: Date.now(), ...fields } as PTCEventMap[Name]);
  }

  warn(code: string, message: string): void {
    const safe = this.host.redact.text(message);
    this.warnings.push(safe);
    this.emit('warning', { code, message: safe });
  }

  abortedBeforeStart(signal: AbortSignal): ArtifactBundle {
    return this.endedBeforeStart(abortReason(signal));
  }

  /** A bundle for a run that never started: cancelled, or timed out (e.g. waiting for a twin). */
  endedBeforeStart(reason: Error): ArtifactBundle {
    const timedOut = reason instanceof PTCTimeoutError;
    return this.build(timedOut ? 'timeout' : 'cancelled', timedOut ? 'timeout' : 'cancelled', errorInfo(reason));
  }

  async execute(cache: Cache | undefined, callerSignal: AbortSignal | undefined): Promise<ArtifactBundle> {
    const options = this.host.resolved;
    const timeoutMs = this.plan.timeoutMs ?? options.defaultTimeoutMs;
    this.runStarted = performance.now();
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
    const onCallerAbort = () => abort(callerSignal?.reason ?? new PTCAbortError('The run was cancelled'));
    if (callerSignal?.aborted) onCallerAbort();
    else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
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
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
    // Closed before the bundle is built, so whatever closing reports is in it.
    if (openPromise) await this.closeSession(openPromise);
    const bundle = this.build(...outcome);
    if (cache) await this.store(cache, bundle, callerSignal);
    return bundle;
  }

  private async lookup(cache: Cache, key: string, signal: AbortSignal): Promise<ArtifactBundle | undefined> {
    const options = this.host.resolved;
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
        this.host.countCacheHit();
        this.emit('cache:hit', { cacheKey: key, source: 'cache' });
        // A shared cache may hold what another host wrote: it is scrubbed like any outside input.
        return asHit(this.host.redact.value(parsed.data), this.plan, key, this.startedAt, performance.now() - this.started);
      }
    }
    this.emit('cache:miss', { cacheKey: key });
    return undefined;
  }

  private async store(cache: Cache, bundle: ArtifactBundle, signal: AbortSignal | undefined): Promise<void> {
    const key = this.key;
    if (key === undefined || !isUsable(bundle, this.plan)) return;
    const options = this.host.resolved;
    try {
      await withTimeout(
        (callSignal) => cache.set(key, bundle, { ttlMs: this.plan.cacheTtlMs, signal: callSignal }),
        options.cacheTimeoutMs,
        signal,
        'cache write',
      );
    } catch (error) {
      if (signal?.aborted) return;
      this.warn('CACHE_FAILED', `cache write failed; the result was not stored: ${describe(error)}`);
    }
  }

  private openSandbox(signal: AbortSignal): Promise<SandboxSession> {
    const options = this.host.resolved;
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
    const options = this.host.resolved;
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
    const options = this.host.resolved;
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
            onProgress: (progress) =>
              this.emit('generation:progress', {
                iteration,
                outputTokens: progress.outputTokens,
                ...(typeof progress.message === 'string' ? { message: trimMiddle(progress.message, MAX_PROGRESS_MESSAGE_CHARS).text } : {}),
              }),
          }),
        );
      } catch (error) {
        throwIfAborted(signal);
        generationError = error;
      }
      record.generationMs = performance.now() - generationStarted;
      this.generationMs += record.generationMs;

      if (!output) {
        const info = this.errorInfo(
          generationError ?? new GenerationError('the generator resolved without a result', { code: 'GENERATION_OUTPUT_INVALID' }),
          'GENERATION_FAILED',
        );
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
      if (typeof output.notes === 'string') record.notes = this.host.redact.text(trimMiddle(output.notes, MAX_NOTES_CHARS).text);
      else if (output.notes !== undefined) this.warn('NOTES_INVALID', `iteration ${iteration}: the generator returned notes that are not a string; they were dropped`);

      // 2. Check what the model wrote before any sandbox sees it.
      const checked = checkGeneratedFiles(output.files, options.fileLimits, protectedPaths);
      for (const notice of checked.notices) this.warn('OUTPUT_DUPLICATE', `iteration ${iteration}: ${notice}`);
      this.emit('generation:end', { iteration, files: checked.files.length, usage: record.usage, durationMs: record.generationMs });
      if (checked.violations.length > 0) {
        const info: ErrorInfo = { code: 'OUTPUT_REJECTED', message: this.host.redact.text(`The output was rejected: ${checked.violations.join('; ')}`) };
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
        if (this.host.isObserved('tests:start', this.observer)) {
          this.emit('tests:start', { iteration, command: formatCommand(this.preset.appendTestFiles ? [...this.preset.command, ...testFiles] : this.preset.command) });
        }
        // The run's clock starts when it leaves the queue, as its timeout does.
        const remainingMs = Math.max(1, (this.plan.timeoutMs ?? options.defaultTimeoutMs) - (performance.now() - this.runStarted));
        const report = await this.guard(
          runTests(session, this.preset, {
            timeoutMs: Math.min(options.testTimeoutMs, remainingMs),
            signal,
            testFiles,
            requiredTestFiles: acceptanceFiles.map((file) => file.path),
          }),
        );
        record.testReport = this.redactReport(report);
      } catch (error) {
        throwIfAborted(signal);
        record.testMs = performance.now() - testStarted;
        this.testMs += record.testMs;
        if (error instanceof PathSafetyError) {
          // The sandbox refused a path (a symlink a test left behind, a reserved directory): the
          // model's output is at fault, not the sandbox, so only this iteration fails.
          const info: ErrorInfo = { code: 'OUTPUT_REJECTED', message: this.host.redact.text(`The output was rejected: ${error.message}`) };
          record.error = info;
          lastError = info;
          this.emit('iteration:end', { iteration, passed: 0, failed: 0, success: false, error: info });
          problem = info.message;
          // Some files may have been written before the refusal; the next iteration removes them.
          writtenPaths = new Set([...writtenPaths, ...checked.files.map((file) => file.path)]);
          const budgetStop = this.budgetExhausted();
          if (budgetStop) return this.stopForBudget(budgetStop);
          continue;
        }
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
    return { code: info.code, message: this.host.redact.text(info.message) };
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
    return this.host.redact.size === 0 ? report : this.host.redact.value(report);
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
      generator: this.host.resolved.generator.id,
      language: this.plan.language,
      warnings: this.warnings,
    };
    if (bestRecord?.testReport) bundle.testReport = bestRecord.testReport;
    if (this.key !== undefined) bundle.cacheKey = this.key;
    if (this.sandboxInfo) bundle.sandbox = this.sandboxInfo;
    if (error && status !== 'success') bundle.error = { code: error.code, message: this.host.redact.text(error.message) };
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

