import { performance } from 'node:perf_hooks';
import {
  type ArtifactBundle,
  type BundleFile,
  type BundleStatus,
  type ErrorInfo,
  type IterationRecord,
  type StopReason,
  type Usage,
  addUsage,
  emptyUsage,
} from '../bundle.js';
import { toBundleFile } from '../internal/files.js';
import type { Plan } from '../plan.js';
import type { RunContext } from './context.js';

/** How a run ended, before its bundle is built. */
export interface Outcome {
  readonly stopReason: StopReason;
  readonly error?: ErrorInfo;
}

/**
 * The one mapping from why a run stopped to its status: the same artifacts get the same status
 * whichever phase ended the run.
 */
export function statusOf(stopReason: StopReason, hasFiles: boolean): BundleStatus {
  switch (stopReason) {
    case 'tests_passed':
    case 'testing_disabled':
      return 'success';
    case 'timeout':
      return 'timeout';
    case 'cancelled':
      return 'cancelled';
    default:
      return hasFiles ? 'partial_success' : 'failure';
  }
}

/** Whether a bundle (cached, or a twin's) may stand in for this plan's own run. */
export function isUsable(bundle: ArtifactBundle, plan: Plan): boolean {
  if (plan.cacheStrategy === 'always') return bundle.status === 'success' || bundle.status === 'partial_success';
  return bundle.status === 'success' && (!plan.enableTesting || bundle.testReport !== undefined);
}

/** A copy of `bundle` served to another caller: its own objects, its own id and timings. */
export function asHit(bundle: ArtifactBundle, plan: Plan, key: string, startedAt: Date, waitedMs: number, copy: boolean): ArtifactBundle {
  const source = copy ? structuredClone(bundle) : bundle;
  return {
    ...source,
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

/**
 * What a run has produced so far: iteration records, each iteration's files, usage and timings.
 * It builds the bundle once, from copies, so nothing the run does afterwards can reach it.
 */
export class RunRecord {
  /** @param started `performance.now()` when the execution began (a twin's wait counts). */
  constructor(
    readonly started: number = performance.now(),
    readonly startedAt: Date = new Date(Date.now() - (performance.now() - started)),
  ) {}

  readonly iterations: IterationRecord[] = [];
  /** Every candidate of iteration 1 that ran (a plan with `candidates` above 1), by candidate. */
  candidates: IterationRecord[] = [];
  private readonly filesByIteration = new Map<number, BundleFile[]>();
  usage: Usage = emptyUsage();
  queuedMs = 0;
  cacheMs = 0;
  sandboxOpenMs = 0;
  generationMs = 0;
  testMs = 0;
  sandbox: { runner: string; id: string; isolation?: string } | undefined;
  /** Wall time of the runs this one resumes (a checkpoint's). */
  priorMs = 0;

  begin(iteration: number): IterationRecord {
    const record: IterationRecord = { iteration, files: [], usage: emptyUsage(), generationMs: 0, testMs: 0 };
    this.iterations.push(record);
    return record;
  }

  /** A record for candidate `index` of iteration 1; it joins `iterations` only if `choose` picks it. */
  beginCandidate(index: number): IterationRecord {
    const record: IterationRecord = { iteration: 1, candidate: index, files: [], usage: emptyUsage(), generationMs: 0, testMs: 0 };
    this.candidates.push(record);
    return record;
  }

  /** The candidate that goes on: iteration 1 of the run, with its files when they passed the checks. */
  choose(record: IterationRecord, files: BundleFile[] | undefined): void {
    this.candidates.sort((a, b) => (a.candidate ?? 0) - (b.candidate ?? 0));
    this.iterations.push(record);
    if (files) this.setFiles(record, files);
  }

  addUsage(record: IterationRecord, usage: Usage): void {
    record.usage = addUsage(record.usage, usage);
    this.usage = addUsage(this.usage, usage);
  }

  setFiles(record: IterationRecord, files: BundleFile[]): void {
    record.files = files.map(({ path, sha256, bytes }) => ({ path, sha256, bytes }));
    this.filesByIteration.set(record.iteration, files);
  }

  /** An iteration a checkpoint recorded, with its files when it produced some. */
  restore(record: IterationRecord, files: BundleFile[] | undefined): void {
    this.iterations.push(record);
    if (files) this.filesByIteration.set(record.iteration, files);
  }

  iterationFiles(): [number, BundleFile[]][] {
    return [...this.filesByIteration];
  }

  hasFiles(): boolean {
    return this.filesByIteration.size > 0;
  }

  /** Whether some iteration's files went through a test run (what `partial_success` promises). */
  hasTestedFiles(): boolean {
    return this.iterations.some((record) => record.testReport !== undefined && this.filesByIteration.has(record.iteration));
  }

  /** The iteration whose files to return: green first, else most passing tests, later wins ties. */
  best(): { record: IterationRecord; files: BundleFile[] } | undefined {
    let best: { record: IterationRecord; files: BundleFile[]; score: number } | undefined;
    for (const record of this.iterations) {
      const files = this.filesByIteration.get(record.iteration);
      if (!files) continue;
      const score = record.testReport ? (record.testReport.success ? Number.MAX_SAFE_INTEGER : record.testReport.passed) : -1;
      if (!best || score >= best.score) best = { record, files, score };
    }
    return best;
  }

  bundle(context: RunContext, outcome: Outcome): ArtifactBundle {
    const best = this.best();
    const files = [
      ...(best?.files ?? []),
      ...context.acceptanceFiles.map((file) => toBundleFile({ path: file.path, content: file.content, kind: 'test' }, true)),
    ];
    const bundle: ArtifactBundle = {
      executionId: context.plan.executionId,
      // With testing on, code no test ever ran is not a partial success, whichever phase failed.
      status: statusOf(outcome.stopReason, context.plan.enableTesting ? this.hasTestedFiles() : best !== undefined),
      stopReason: outcome.stopReason,
      files,
      bestIteration: best?.record.iteration ?? 0,
      // Copies: the records are the run's own working objects.
      iterations: this.iterations.map((record) => ({ ...record })),
      usage: { ...this.usage },
      timings: {
        startedAt: this.startedAt.toISOString(),
        endedAt: new Date().toISOString(),
        totalMs: this.priorMs + performance.now() - this.started,
        queuedMs: this.queuedMs,
        cacheMs: this.cacheMs,
        sandboxOpenMs: this.sandboxOpenMs,
        generationMs: this.generationMs,
        testMs: this.testMs,
      },
      fromCache: false,
      generator: context.options.generator.id,
      language: context.plan.language,
      warnings: [...context.warnings],
    };
    if (this.candidates.length > 0) bundle.candidates = this.candidates.map((record) => ({ ...record }));
    if (best?.record.testReport) bundle.testReport = best.record.testReport;
    if (context.key !== undefined) bundle.cacheKey = context.key;
    if (this.sandbox) bundle.sandbox = { ...this.sandbox };
    if (outcome.error && bundle.status !== 'success') bundle.error = outcome.error;
    return bundle;
  }
}
