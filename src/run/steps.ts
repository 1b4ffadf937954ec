import { performance } from 'node:perf_hooks';
import type { ErrorInfo, GeneratedFile, IterationRecord, TestReport } from '../bundle.js';
import type { GenerationRequest, GenerationResult } from '../contracts/code-generator.js';
import type { SandboxSession } from '../contracts/sandbox-runner.js';
import { GenerationError, PathSafetyError } from '../errors.js';
import { trimMiddle } from '../internal/text.js';
import { judge } from '../reports/verdict.js';
import { readUsage } from '../usage.js';
import type { RunContext } from './context.js';
import { TestOutput } from './output.js';
import type { RunRecord } from './result.js';
import type { RunScope } from './scope.js';

/** Longest `problem` handed to the model: violations, errors and report problems are all bounded. */
export const MAX_PROBLEM_CHARS = 8_000;
const MAX_NOTES_CHARS = 20_000;
const MAX_PROGRESS_MESSAGE_CHARS = 2_000;

/** The `candidate` field events of a candidate's iteration carry (nothing for the others). */
export function tagOf(entry: IterationRecord): { candidate?: number } {
  return entry.candidate === undefined ? {} : { candidate: entry.candidate };
}

/** Step 1 of an iteration: asks the generator, recording usage, notes and time in `entry`. */
export async function generate(
  context: RunContext,
  record: RunRecord,
  scope: RunScope,
  entry: IterationRecord,
  request: GenerationRequest,
): Promise<{ files: GenerationResult['files'] } | { error: unknown }> {
  const { iteration } = entry;
  const tag = tagOf(entry);
  context.emit('generation:start', { iteration, ...tag });
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
            ...tag,
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
    context.emit('generation:end', { iteration, files: 0, usage: entry.usage, durationMs: entry.generationMs, error: context.errorInfo(error, 'GENERATION_FAILED'), ...tag });
    return { error };
  }
  const usage = readUsage(output.usage);
  record.addUsage(entry, usage.usage);
  if (usage.problems.length > 0) context.warn('USAGE_INVALID', `${label(entry)}: the generator reported incomplete usage (${usage.problems.join(', ')}); the rest was counted`);
  if (typeof output.notes === 'string') entry.notes = context.redactor.text(trimMiddle(output.notes, MAX_NOTES_CHARS).text);
  else if (output.notes !== undefined) context.warn('NOTES_INVALID', `${label(entry)}: the generator returned notes that are not a string; they were dropped`);
  return { files: output.files };
}

/**
 * Step 3: syncs exactly `files` into `session` and judges them. A path the sandbox refused is the
 * model's fault (`rejected`); any other failure ends the run (thrown).
 */
export async function test(
  context: RunContext,
  record: RunRecord,
  scope: RunScope,
  entry: IterationRecord,
  files: readonly GeneratedFile[],
  sandbox: () => Promise<SandboxSession> = () => scope.sandbox(),
): Promise<{ report: TestReport } | { rejected: ErrorInfo }> {
  const { iteration } = entry;
  const tag = tagOf(entry);
  const started = performance.now();
  const output = TestOutput.start(context, iteration, tag);
  try {
    const session = await sandbox();
    context.emit('tests:start', { iteration, command: context.preset.command.join(' '), ...tag });
    const report = await scope.guard(
      judge(session, context.preset, {
        files,
        acceptanceFiles: context.acceptanceFiles,
        signal: scope.signal,
        timeoutMs: () => Math.min(context.options.testTimeoutMs, scope.remainingMs()),
        ...(output ? { onOutput: output.onOutput } : {}),
      }),
      // Ended before any later event; a command abandoned by a stopped run is not heard.
    ).finally(() => output?.end());
    entry.testReport = context.redactor.size === 0 ? report : context.redactor.value(report);
  } catch (error) {
    if (scope.reason) throw scope.reason;
    // The sandbox refused a path (a directory where the model put a file, a link a test left):
    // the model's output is at fault, not the sandbox, so only this iteration fails.
    if (error instanceof PathSafetyError) return { rejected: context.info('OUTPUT_REJECTED', `The output was rejected: ${error.message}`) };
    const info = context.errorInfo(error, 'SANDBOX_FAILED');
    entry.error = info;
    context.emit('iteration:end', { iteration, passed: 0, failed: 0, success: false, error: info, ...tag });
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
    ...tag,
  });
  return { report };
}

/** How warnings name an iteration: `iteration 2`, or `iteration 1, candidate 3`. */
export function label(entry: IterationRecord): string {
  return entry.candidate === undefined ? `iteration ${entry.iteration}` : `iteration ${entry.iteration}, candidate ${entry.candidate}`;
}
