import type { BundleFile, ErrorInfo, GeneratedFile, IterationRecord, TestReport } from '../bundle.js';
import type { GenerationRequest } from '../contracts/code-generator.js';
import { GenerationError } from '../errors.js';
import { checkGeneratedFiles, toBundleFile } from '../internal/files.js';
import { budgetStop } from './budget.js';
import type { LoopState } from './checkpoint.js';
import type { RunContext, RunQueue } from './context.js';
import { openSandbox } from './sandbox.js';
import type { Outcome, RunRecord } from './result.js';
import type { OpenSandbox, RunScope } from './scope.js';
import { MAX_PROBLEM_CHARS, generate, label, tagOf, test } from './steps.js';

/** What one candidate came to. */
interface Candidate {
  readonly index: number;
  readonly entry: IterationRecord;
  /** The sandbox it was tested in (the one its slot holds). */
  readonly sandbox: OpenSandbox | undefined;
  /** What was usable of its files (also when the checks rejected some). */
  files: GeneratedFile[];
  /** Its files as the bundle keeps them, only when they passed every check. */
  accepted: BundleFile[] | undefined;
  report: TestReport | undefined;
  /** What the next iteration is told when this candidate goes on without a test result. */
  problem: string | undefined;
  /** A non-retryable generation error: the run ends unless some candidate has files. */
  fatal: boolean;
}

/**
 * Iteration 1 of a plan with `candidates` above 1: `n` independent generations, each checked and
 * tested in a sandbox of its own, the best one chosen to go on alone.
 *
 * Slots: the run already holds one (`maxConcurrent`). It takes more only if they are free now and
 * no other run waits (`tryAcquire`), never waiting for one, so a run cannot deadlock on its own
 * candidates, not even with `maxConcurrent: 1`. Each slot works through the candidates in turn
 * with one sandbox: candidates in flight at the same time are in different sandboxes; one that
 * waited for a slot reuses that slot's sandbox after the one before it, which the sync replaces
 * entirely, as between iterations. Once a candidate is green (or a generation failed for good, or
 * the budget is used up) no further candidate starts; those in flight finish.
 *
 * Then the best one (green first, then most passing cases, then fewest failed and errored, then
 * a clean output, then fewest bytes, then the lower index) goes on, in its own sandbox; every
 * other sandbox is closed at once and the extra slots released. Together the candidates are one
 * iteration; the budgets count all of them.
 */
export async function runCandidates(
  context: RunContext,
  record: RunRecord,
  scope: RunScope,
  queue: RunQueue,
  requestFor: (candidate: { index: number; count: number }) => GenerationRequest,
  dependencies: readonly string[],
): Promise<{ stop: Outcome } | { loop: LoopState }> {
  const { plan, options } = context;
  const count = plan.candidates;
  const waiting = Array.from({ length: count }, (_, index) => index + 1);
  const done: Candidate[] = [];
  let startNoMore = false;
  const extraSlots: Array<() => void> = [];
  for (let slot = 1; slot < count; slot += 1) {
    const release = queue.tryAcquire();
    if (!release) break;
    extraSlots.push(release);
  }

  const worker = async (sandbox: OpenSandbox | undefined): Promise<void> => {
    for (let index = waiting.shift(); index !== undefined && !startNoMore; index = waiting.shift()) {
      // The first candidate always runs; a later one only while the budget lasts.
      if (index > 1 && budgetStop(context, record, true)) {
        startNoMore = true;
        return;
      }
      const candidate = await attempt(context, record, scope, sandbox, index, requestFor({ index, count }));
      done.push(candidate);
      if (candidate.fatal || candidate.report?.success) startNoMore = true;
    }
  };

  try {
    const sandboxes = [
      plan.enableTesting ? scope.mainSandbox : undefined,
      ...extraSlots.map((_, slot) => (plan.enableTesting ? scope.openSpare((signal) => openSandbox(context, record, dependencies, signal, slot + 2)) : undefined)),
    ];
    // Settled, not raced: a failing candidate must not leave the others running unwatched.
    const settled = await Promise.allSettled(
      sandboxes.map((sandbox) =>
        worker(sandbox).catch((error: unknown) => {
          startNoMore = true;
          throw error;
        }),
      ),
    );
    if (scope.reason) throw scope.reason;
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;

    const chosen = done.reduce((best, candidate) => (compare(candidate, best) > 0 ? candidate : best));
    record.choose(chosen.entry, chosen.accepted);
    if (chosen.sandbox) {
      scope.keep(chosen.sandbox);
      const session = chosen.sandbox.session;
      if (session) record.sandbox = { runner: options.runner.id, id: session.id, ...(typeof session.isolation === 'string' ? { isolation: session.isolation.slice(0, 100) } : {}) };
    }
    const hasFiles = chosen.files.length > 0;
    context.emit('candidates:chosen', {
      candidate: hasFiles ? chosen.index : 0,
      candidates: done.length,
      passed: chosen.report?.passed ?? 0,
      failed: chosen.report ? chosen.report.failed + chosen.report.errored : 0,
      success: chosen.report?.success ?? false,
    });
    return { ...decide(context, record, chosen, done) };
  } finally {
    // Closed before their slots go back, so `maxConcurrent` bounds sandboxes here too.
    const problem = await scope.closeSpares(options.closeTimeoutMs);
    for (const release of extraSlots) release();
    if (problem) context.warn('SANDBOX_FAILED', problem);
  }
}

/** Where the run goes from the chosen candidate: done, or on to iteration 2 with its files. */
function decide(context: RunContext, record: RunRecord, chosen: Candidate, done: readonly Candidate[]): { stop: Outcome } | { loop: LoopState } {
  if (chosen.report?.success) return { stop: { stopReason: 'tests_passed' } };
  if (!context.plan.enableTesting && chosen.accepted) return { stop: { stopReason: 'testing_disabled' } };
  const fatal = done.find((candidate) => candidate.fatal);
  if (fatal && chosen.files.length === 0) return { stop: { stopReason: 'generation_failed', error: fatal.entry.error! } };
  const previous = { files: chosen.files, report: chosen.report };
  const report = chosen.report;
  const lastError: ErrorInfo | undefined = report
    ? context.info('TESTS_FAILED', report.problem ?? `${report.failed + report.errored} of ${report.passed + report.failed + report.errored} tests failed`)
    : chosen.entry.error;
  const stop = budgetStop(context, record);
  if (stop) return { stop };
  return {
    loop: {
      previous,
      baseline: report ? previous : { files: [], report: undefined },
      problem: report ? undefined : chosen.problem,
      lastError,
    },
  };
}

/** One candidate: generate, check, test, as iteration 1 of the loop does. Throws when the run must end. */
async function attempt(
  context: RunContext,
  record: RunRecord,
  scope: RunScope,
  sandbox: OpenSandbox | undefined,
  index: number,
  request: GenerationRequest,
): Promise<Candidate> {
  const entry = record.beginCandidate(index);
  const candidate: Candidate = { index, entry, sandbox, files: [], accepted: undefined, report: undefined, problem: undefined, fatal: false };
  const tag = tagOf(entry);
  const fail = (error: ErrorInfo, told: string = error.message): Candidate => {
    entry.error = error;
    candidate.problem = told;
    context.emit('iteration:end', { iteration: 1, passed: 0, failed: 0, success: false, error, ...tag });
    return candidate;
  };

  const generated = await generate(context, record, scope, entry, request);
  if ('error' in generated) {
    const error = context.errorInfo(generated.error, 'GENERATION_FAILED');
    candidate.fatal = generated.error instanceof GenerationError && !generated.error.retryable;
    return fail(error, `The previous attempt failed: ${error.message}`);
  }
  const checked = checkGeneratedFiles(generated.files, context.options.fileLimits, context.protectedPaths, (text) => context.redactor.contains(text));
  for (const notice of checked.notices) context.warn('OUTPUT_DUPLICATE', `${label(entry)}: ${notice}`);
  context.emit('generation:end', { iteration: 1, files: checked.files.length, usage: entry.usage, durationMs: entry.generationMs, ...tag });
  candidate.files = checked.files;
  if (checked.violations.length > 0) return fail(context.info('OUTPUT_REJECTED', `The output was rejected: ${checked.violations.join('; ')}`, MAX_PROBLEM_CHARS));
  candidate.accepted = checked.files.map((file) => toBundleFile(file));
  entry.files = candidate.accepted.map(({ path, sha256, bytes }) => ({ path, sha256, bytes }));
  if (!sandbox) {
    context.emit('iteration:end', { iteration: 1, passed: 0, failed: 0, success: true, ...tag });
    return candidate;
  }
  const tested = await test(context, record, scope, entry, checked.files, () => scope.session(sandbox));
  if ('rejected' in tested) {
    candidate.accepted = undefined;
    return fail(tested.rejected);
  }
  candidate.report = tested.report;
  const report = tested.report;
  context.emit('iteration:end', { iteration: 1, passed: report.passed, failed: report.failed + report.errored, success: report.success, ...tag });
  return candidate;
}

/** Positive when `a` is the better candidate: green, passing cases, fewest failing, clean, smallest, first. */
function compare(a: Candidate, b: Candidate): number {
  const keys = (candidate: Candidate): number[] => {
    const report = candidate.report;
    return [
      report?.success ? 1 : 0,
      report ? 1 : 0,
      report?.passed ?? 0,
      -(report ? report.failed + report.errored : 0),
      candidate.entry.error ? 0 : 1,
      candidate.files.length > 0 ? 1 : 0,
      -candidate.files.reduce((bytes, file) => bytes + Buffer.byteLength(file.content, 'utf8'), 0),
      -candidate.index,
    ];
  };
  const left = keys(a);
  const right = keys(b);
  for (let position = 0; position < left.length; position += 1) {
    if (left[position] !== right[position]) return left[position]! - right[position]!;
  }
  return 0;
}
