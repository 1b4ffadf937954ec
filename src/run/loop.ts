import { performance } from 'node:perf_hooks';
import type { ArtifactBundle, ErrorInfo, GeneratedFile, IterationRecord, TestReport } from '../bundle.js';
import type { GenerationRequest, GenerationResult } from '../contracts/code-generator.js';
import { GenerationError, PathSafetyError, PTCTimeoutError, SandboxError } from '../errors.js';
import { checkGeneratedFiles, toBundleFile } from '../internal/files.js';
import { trimMiddle } from '../internal/text.js';
import { failingCases } from '../reports/run-tests.js';
import { judge } from '../reports/verdict.js';
import { totalTokens, readUsage } from '../usage.js';
import { budgetStop } from './budget.js';
import { RunCheckpoint } from './checkpoint.js';
import { openSandbox } from './sandbox.js';
import { readCache, writeCache } from './cache.js';
import type { RunContext, RunInput } from './context.js';
import { describeWeakening, weakenedTests } from './integrity.js';
import { type Outcome, RunRecord, asHit } from './result.js';
import { RunScope } from './scope.js';

const MAX_NOTES_CHARS = 20_000;
const MAX_PROGRESS_MESSAGE_CHARS = 2_000;
/** Longest `problem` handed to the model: violations, errors and report problems are all bounded. */
const MAX_PROBLEM_CHARS = 8_000;

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
    if (plan.enableTesting) {
      const dependencies = [...new Set([...context.preset.requiredDependencies, ...plan.dependencies])];
      // A missing toolchain must cost no paid generation: checked (and cached by the runner) first.
      if (options.runner.preflight) await scope.guard(options.runner.preflight({ language: plan.language, dependencies, env: options.sandboxEnv, signal: scope.signal }));
      scope.open((signal) => openSandbox(context, record, dependencies, signal));
    }
    outcome = await iterate(context, record, scope, checkpoint);
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

async function iterate(context: RunContext, record: RunRecord, scope: RunScope, checkpoint: RunCheckpoint): Promise<Outcome> {
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
    const entry = record.begin(iteration);
    // 1. Generate.
    const request: GenerationRequest = {
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
    };
    const generated = await generate(context, record, scope, entry, request);
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

async function generate(
  context: RunContext,
  record: RunRecord,
  scope: RunScope,
  entry: IterationRecord,
  request: GenerationRequest,
): Promise<{ files: GenerationResult['files'] } | { error: unknown }> {
  const { iteration } = entry;
  context.emit('generation:start', { iteration });
  const started = performance.now();
  let output: GenerationResult | undefined;
  let failure: unknown;
  try {
    output = await scope.guard(
      context.options.generator.generate(request, {
        signal: scope.signal,
        onProgress: (progress) =>
          context.emit('generation:progress', {
            iteration,
            outputTokens: progress.outputTokens,
            ...(typeof progress.message === 'string' ? { message: trimMiddle(progress.message, MAX_PROGRESS_MESSAGE_CHARS).text } : {}),
          }),
      }),
    );
  } catch (error) {
    if (scope.reason) throw scope.reason;
    failure = error;
  }
  entry.generationMs = performance.now() - started;
  record.generationMs += entry.generationMs;
  if (!output) {
    const error = failure ?? new GenerationError('the generator resolved without a result', { code: 'GENERATION_OUTPUT_INVALID' });
    if (error instanceof GenerationError && error.usage) record.addUsage(entry, readUsage(error.usage).usage);
    context.emit('generation:end', { iteration, files: 0, usage: entry.usage, durationMs: entry.generationMs, error: context.errorInfo(error, 'GENERATION_FAILED') });
    return { error };
  }
  const usage = readUsage(output.usage);
  record.addUsage(entry, usage.usage);
  if (usage.problems.length > 0) context.warn('USAGE_INVALID', `iteration ${iteration}: the generator reported incomplete usage (${usage.problems.join(', ')}); the rest was counted`);
  if (typeof output.notes === 'string') entry.notes = context.redactor.text(trimMiddle(output.notes, MAX_NOTES_CHARS).text);
  else if (output.notes !== undefined) context.warn('NOTES_INVALID', `iteration ${iteration}: the generator returned notes that are not a string; they were dropped`);
  return { files: output.files };
}

async function test(
  context: RunContext,
  record: RunRecord,
  scope: RunScope,
  entry: IterationRecord,
  files: readonly GeneratedFile[],
): Promise<{ report: TestReport } | { rejected: ErrorInfo }> {
  const { iteration } = entry;
  const started = performance.now();
  try {
    const session = await scope.sandbox();
    context.emit('tests:start', { iteration, command: context.preset.command.join(' ') });
    const report = await scope.guard(
      judge(session, context.preset, {
        files,
        acceptanceFiles: context.acceptanceFiles,
        signal: scope.signal,
        timeoutMs: () => Math.min(context.options.testTimeoutMs, scope.remainingMs()),
      }),
    );
    entry.testReport = context.redactor.size === 0 ? report : context.redactor.value(report);
  } catch (error) {
    if (scope.reason) throw scope.reason;
    // The sandbox refused a path (a directory where the model put a file, a link a test left):
    // the model's output is at fault, not the sandbox, so only this iteration fails.
    if (error instanceof PathSafetyError) return { rejected: context.info('OUTPUT_REJECTED', `The output was rejected: ${error.message}`) };
    const info = context.errorInfo(error, 'SANDBOX_FAILED');
    entry.error = info;
    context.emit('iteration:end', { iteration, passed: 0, failed: 0, success: false, error: info });
    throw error;
  } finally {
    entry.testMs = performance.now() - started;
    record.testMs += entry.testMs;
  }
  const report = entry.testReport;
  context.emit('tests:end', {
    iteration,
    passed: report.passed,
    failed: report.failed,
    errored: report.errored,
    skipped: report.skipped,
    success: report.success,
    durationMs: entry.testMs,
  });
  return { report };
}
