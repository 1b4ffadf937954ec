import { performance } from 'node:perf_hooks';
import type { ArtifactBundle, ErrorInfo, IterationRecord } from '../bundle.js';
import type { GenerationRequest } from '../contracts/code-generator.js';
import { GenerationError, PTCTimeoutError, SandboxError } from '../errors.js';
import { checkGeneratedFiles, toBundleFile } from '../internal/files.js';
import { failingCases } from '../reports/run-tests.js';
import { totalTokens } from '../usage.js';
import { budgetStop } from './budget.js';
import { runCandidates } from './candidates.js';
import { RunCheckpoint } from './checkpoint.js';
import { openSandbox } from './sandbox.js';
import { readCache, writeCache } from './cache.js';
import type { RunContext, RunInput, RunQueue } from './context.js';
import { describeWeakening, weakenedTests } from './integrity.js';
import { type Outcome, RunRecord, asHit } from './result.js';
import { RunScope } from './scope.js';
import { MAX_PROBLEM_CHARS, generate, test } from './steps.js';


/**
 * One run of one plan, top to bottom: cache → queue → (open the sandbox ∥ generate) → check →
 * sync → test → decide, until green or out of budget; then close, build, store. It always
 * resolves with a bundle; it never calls back into the agent, and emits nothing once it returns.
 */
export async function runPlan(context: RunContext, input: RunInput): Promise<ArtifactBundle> {
  const { plan, options, key } = context;
  const record = new RunRecord();
  const scope = new RunScope(input.callerSignal);
  let outcome: Outcome;
  let release: (() => void) | undefined;
  let checkpoint: RunCheckpoint | undefined;
  try {
    // The clock runs from here, but for time spent waiting in the queue.
    scope.startDeadline(input.deadline ?? performance.now() + context.timeoutMs, context.timeoutMs);
    context.emit('run:start', { language: plan.language, maxIterations: plan.maxIterations, generator: options.generator.id, runner: options.runner.id });
    if (input.cache && key !== undefined) {
      // Before the queue: a hit needs no slot.
      const { bundle: hit, ms } = await scope.guard(readCache(context, input.cache, key, scope.signal));
      record.cacheMs = ms;
      if (hit) {
        context.emit('cache:hit', { cacheKey: key, source: 'cache' });
        await scope.close(options.closeTimeoutMs);
        context.seal();
        return asHit(hit, plan, key, record.startedAt, performance.now() - record.started, false);
      }
      context.emit('cache:miss', { cacheKey: key });
    }
    // Awaited only with a store: without one the run reaches the queue in the same tick, as before.
    checkpoint = options.checkpoints ? await scope.guard(RunCheckpoint.open(context, input.resume, scope.signal)) : RunCheckpoint.none(context);
    const queuedAt = performance.now();
    if (input.queue.full) {
      // Time in the queue does not count: the clock stops while the run waits for a slot.
      context.emit('run:queued', { queued: input.queue.waiting + 1 });
      scope.pauseDeadline();
      try {
        release = await input.queue.acquire(scope.signal);
      } finally {
        record.queuedMs = performance.now() - queuedAt;
        scope.resumeDeadline();
      }
    } else {
      release = await input.queue.acquire(scope.signal);
    }
    const dependencies = [...new Set([...context.preset.requiredDependencies, ...plan.dependencies])];
    if (plan.enableTesting) {
      // A missing toolchain must cost no paid generation: checked (and cached by the runner) first.
      if (options.runner.preflight) await scope.guard(options.runner.preflight({ language: plan.language, dependencies, env: options.sandboxEnv, signal: scope.signal }));
      scope.open((signal) => openSandbox(context, record, dependencies, signal));
    }
    outcome = await iterate(context, record, scope, checkpoint, input.queue, dependencies);
  } catch (error) {
    outcome = { stopReason: 'sandbox_failed', error: context.errorInfo(error, 'SANDBOX_FAILED') };
  }
  if (scope.reason) outcome = stoppedBy(context, scope.reason, outcome);
  // Closed before the bundle is built, so whatever closing reports is in it; the slot is held
  // until then, so `maxConcurrent` bounds sandboxes too.
  const closeProblem = await scope.close(options.closeTimeoutMs);
  if (scope.lingering) input.linger?.(scope.lingering);
  release?.();
  if (closeProblem) context.warn('SANDBOX_FAILED', closeProblem);
  await checkpoint?.finish(record, outcome, input.callerSignal);
  let bundle = record.bundle(context, outcome);
  if (input.cache && key !== undefined) {
    const storeProblem = await writeCache(context, input.cache, key, bundle, input.callerSignal);
    if (storeProblem) {
      context.warn('CACHE_FAILED', storeProblem);
      bundle = { ...bundle, warnings: [...context.warnings] };
    }
  }
  context.seal();
  return bundle;
}

/** The outcome of a run stopped from outside (caller, deadline) or by a sandbox that did not open. */
function stoppedBy(context: RunContext, reason: Error, fallback: Outcome): Outcome {
  if (reason instanceof PTCTimeoutError) return { stopReason: 'timeout', error: context.errorInfo(reason, 'TIMEOUT') };
  if (reason instanceof SandboxError) return { stopReason: 'sandbox_failed', error: context.errorInfo(reason, 'SANDBOX_OPEN_FAILED') };
  if (fallback.stopReason === 'tests_passed' || fallback.stopReason === 'testing_disabled') return fallback;
  return { stopReason: 'cancelled', error: context.errorInfo(reason, 'ABORTED') };
}

async function iterate(context: RunContext, record: RunRecord, scope: RunScope, checkpoint: RunCheckpoint, queue: RunQueue, dependencies: readonly string[]): Promise<Outcome> {
  const { plan, options } = context;
  // What the model gets back to refine (its last usable files), and what its tests are compared
  // with (the last files that were tested): a rejected iteration must not become the baseline.
  // A resumed run gets them, and the iterations before `checkpoint.next`, from its checkpoint.
  let { previous, baseline, problem, lastError } = checkpoint.restore(record);
  if (plan.enableTesting && context.acceptanceFiles.length > 0 && !context.preset.acceptance) {
    context.warn('VERDICT_NOT_HARDENED', `the test preset ${context.preset.id} has no acceptance invocation: acceptance tests run only inside the model's own test run, which its files can configure`);
  }

  /** Ends an iteration that produced no test result; returns the outcome when the budget is gone. */
  const failIteration = (entry: IterationRecord, error: ErrorInfo, told = error.message): Outcome | undefined => {
    entry.error = error;
    lastError = error;
    context.emit('iteration:end', { iteration: entry.iteration, passed: 0, failed: 0, success: false, error });
    problem = told;
    return budgetStop(context, record);
  };

  for (let iteration = checkpoint.next; iteration <= plan.maxIterations; iteration += 1) {
    await checkpoint.save(record, { previous, baseline, problem, lastError }, iteration, scope.signal);
    // 1. Generate.
    const request = (candidate?: GenerationRequest['candidate']): GenerationRequest => ({
      executionId: plan.executionId,
      iteration,
      plan,
      testPreset: context.preset,
      previousFiles: previous.files,
      failures: previous.report ? failingCases(previous.report) : [],
      protectedPaths: [...context.protectedPaths],
      ...(previous.report ? { previousReport: previous.report } : {}),
      ...(problem !== undefined ? { problem } : {}),
      ...(plan.budget.maxTokens !== undefined ? { remainingTokens: Math.max(0, plan.budget.maxTokens - totalTokens(record.usage)) } : {}),
      ...(candidate ? { candidate } : {}),
    });
    if (iteration === 1 && plan.candidates > 1) {
      // Several first attempts, the best goes on (candidates.ts); together they are iteration 1.
      const chosen = await runCandidates(context, record, scope, queue, request, dependencies);
      if ('stop' in chosen) return chosen.stop;
      ({ previous, baseline, problem, lastError } = chosen.loop);
      continue;
    }
    const entry = record.begin(iteration);
    const generated = await generate(context, record, scope, entry, request());
    if ('error' in generated) {
      if (generated.error instanceof GenerationError && !generated.error.retryable) {
        entry.error = context.errorInfo(generated.error, 'GENERATION_FAILED');
        context.emit('iteration:end', { iteration, passed: 0, failed: 0, success: false, error: entry.error });
        return { stopReason: 'generation_failed', error: entry.error };
      }
      const error = context.errorInfo(generated.error, 'GENERATION_FAILED');
      const stop = failIteration(entry, error, `The previous attempt failed: ${error.message}`);
      if (stop) return stop;
      continue;
    }

    // 2. Check what the model wrote before any sandbox sees it.
    const checked = checkGeneratedFiles(generated.files, options.fileLimits, context.protectedPaths, (text) => context.redactor.contains(text));
    for (const notice of checked.notices) context.warn('OUTPUT_DUPLICATE', `iteration ${iteration}: ${notice}`);
    context.emit('generation:end', { iteration, files: checked.files.length, usage: entry.usage, durationMs: entry.generationMs });
    if (checked.violations.length > 0) {
      // The model gets back what was usable of its files, to fix.
      if (checked.files.length > 0) previous = { files: checked.files, report: previous.report };
      const stop = failIteration(entry, context.info('OUTPUT_REJECTED', `The output was rejected: ${checked.violations.join('; ')}`, MAX_PROBLEM_CHARS));
      if (stop) return stop;
      continue;
    }
    record.setFiles(entry, checked.files.map((file) => toBundleFile(file)));
    problem = undefined;
    if (!plan.enableTesting) {
      context.emit('iteration:end', { iteration, passed: 0, failed: 0, success: true });
      return { stopReason: 'testing_disabled' };
    }

    // 3. Sync exactly this iteration's files and judge them.
    const tested = await test(context, record, scope, entry, checked.files);
    if ('rejected' in tested) {
      const stop = failIteration(entry, tested.rejected);
      previous = { files: checked.files, report: previous.report };
      if (stop) return stop;
      continue;
    }
    const report = tested.report;
    const weakened = weakenedTests(baseline, { files: checked.files, report }, context.acceptanceFiles.map((file) => file.path));
    if (weakened) {
      entry.integrity = weakened;
      context.warn('TESTS_WEAKENED', describeWeakening(iteration, weakened));
    }
    context.emit('iteration:end', { iteration, passed: report.passed, failed: report.failed + report.errored, success: report.success });
    if (report.success) return { stopReason: 'tests_passed' };
    previous = { files: checked.files, report };
    baseline = previous;
    lastError = context.info('TESTS_FAILED', report.problem ?? `${report.failed + report.errored} of ${report.passed + report.failed + report.errored} tests failed`);
    const stop = budgetStop(context, record);
    if (stop) return stop;
  }
  if (!record.hasFiles()) return { stopReason: 'generation_failed', error: lastError ?? { code: 'GENERATION_FAILED', message: 'no iteration produced usable files' } };
  return {
    stopReason: 'max_iterations',
    error: { code: 'TESTS_FAILED', message: `tests still failing after ${plan.maxIterations} iteration(s): ${lastError?.message ?? 'see the test report'}` },
  };
}
