import { performance } from 'node:perf_hooks';
import type { BundleFile, ErrorInfo, GeneratedFile, TestReport } from '../bundle.js';
import { CHECKPOINT_VERSION, type CheckpointFile, type ResumePoint, type CheckpointState, CheckpointStateSchema, checkpointPlanHash } from '../checkpoint-state.js';
import type { CheckpointStore } from '../contracts/checkpoint.js';
import { sha256, toBundleFile } from '../internal/files.js';
import { withTimeout } from '../internal/async.js';
import type { Redactor } from '../internal/redact.js';
import { trimMiddle } from '../internal/text.js';
import { type Plan, parsePlan } from '../plan.js';
import type { RunContext } from './context.js';
import type { Outcome, RunRecord } from './result.js';

/** Files and the report they got: what the next generation refines, or what its tests are compared with. */
export interface Attempt {
  files: GeneratedFile[];
  report: TestReport | undefined;
}

/** The loop's own variables between iterations, which a resumed run must get back. */
export interface LoopState {
  previous: Attempt;
  baseline: Attempt;
  problem: string | undefined;
  lastError: ErrorInfo | undefined;
}


export interface CheckpointExpectation {
  executionId: string;
  generatorId: string;
  testPresetIdFor: (plan: Plan) => string;
  /** When the caller brought a plan: the checkpoint must be of the same canonical plan. */
  planHash?: string;
}

/** Stop reasons after which there is nothing to resume: the run decided, it was not interrupted. */
const INTERRUPTED = new Set(['timeout', 'cancelled', 'sandbox_failed']);
/** How long an unfinished run's checkpoint lives when `checkpointTtlMs` is not set: an abandoned run must not stay forever. */
const PENDING_TTL_MS = 7 * 24 * 3_600_000;

/**
 * Checks a stored value as strictly as a cache entry (it may come from a shared store): the
 * schema (safe paths included), the version, the execution id, generator and preset, the plan
 * (parsed again and hashed), every content against its hash, no secret anywhere. Returns why it
 * cannot be used, or the point to resume from.
 */
export function readCheckpoint(raw: unknown, expected: CheckpointExpectation, redactor: Redactor): ResumePoint | string {
  if (typeof raw === 'object' && raw !== null && 'version' in raw && raw.version !== CHECKPOINT_VERSION) {
    return `it has version ${String(raw.version).slice(0, 20)}; this version reads ${CHECKPOINT_VERSION}`;
  }
  const parsed = CheckpointStateSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return `it failed validation (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`;
  }
  const state = parsed.data;
  if (state.executionId !== expected.executionId) return 'it belongs to another execution id';
  if (state.generatorId !== expected.generatorId) return `it was written by generator ${state.generatorId.slice(0, 100)}, not ${expected.generatorId}`;
  let plan: Plan;
  try {
    plan = parsePlan(state.plan);
  } catch {
    return 'its plan is invalid';
  }
  const hash = checkpointPlanHash(plan);
  if (hash !== state.planHash || plan.executionId !== state.executionId) return 'its plan does not match its recorded hash';
  if (expected.planHash !== undefined && hash !== expected.planHash) return 'it is of another plan';
  if (state.testPresetId !== expected.testPresetIdFor(plan)) return `it was tested with preset ${state.testPresetId.slice(0, 100)}, not ${expected.testPresetIdFor(plan)}`;
  for (const [hashKey, content] of Object.entries(state.contents)) if (sha256(content) !== hashKey) return 'a file does not match its recorded hash';
  const refs = [...state.iterationFiles.flatMap((entry) => entry.files), ...state.previous.files, ...state.baseline.files];
  if (refs.some((file) => state.contents[file.sha256] === undefined)) return 'a file it refers to is missing';
  if (state.nextIteration <= Math.max(0, ...state.iterations.map((entry) => entry.iteration))) return 'its next iteration is one it already recorded';
  if (redactor.containsIn(state)) return 'it contains a secret value';
  return { state, plan };
}

/**
 * One run's checkpoints: restores the run from a resume point, saves its state before every
 * iteration after the first it runs, and deletes (or keeps, `checkpointTtlMs`) it when the run
 * decided. Every store call is bounded by `cacheTimeoutMs`; a failing store is a warning.
 * Without a store every method does nothing.
 */
export class RunCheckpoint {
  private loop: LoopState | undefined;

  private constructor(
    private readonly context: RunContext,
    private readonly store: CheckpointStore | undefined,
    private readonly point: ResumePoint | undefined,
  ) {}

  /** For a run without a checkpoint store: every method does nothing. */
  static none(context: RunContext): RunCheckpoint {
    return new RunCheckpoint(context, undefined, undefined);
  }

  /** Uses `resume` when the caller loaded one (`agent.resume`), else looks for this execution's checkpoint. */
  static async open(context: RunContext, resume: ResumePoint | undefined, signal: AbortSignal): Promise<RunCheckpoint> {
    const store = context.options.checkpoints;
    if (!store || resume) return new RunCheckpoint(context, store, resume);
    const { plan, options } = context;
    let raw: unknown;
    try {
      raw = await withTimeout((callSignal) => store.load(plan.executionId, { signal: callSignal }), options.cacheTimeoutMs, signal, 'checkpoint load');
    } catch (error) {
      if (signal.aborted) throw error;
      context.warn('CHECKPOINT_FAILED', `loading the checkpoint failed, starting afresh: ${describe(error)}`);
      return new RunCheckpoint(context, store, undefined);
    }
    if (raw === undefined || raw === null) return new RunCheckpoint(context, store, undefined);
    const read = readCheckpoint(raw, { executionId: plan.executionId, generatorId: options.generator.id, testPresetIdFor: () => context.preset.id, planHash: checkpointPlanHash(plan) }, context.redactor);
    if (typeof read === 'string') {
      context.warn('CHECKPOINT_IGNORED', `the checkpoint of ${plan.executionId} was ignored, starting afresh: ${read}`);
      return new RunCheckpoint(context, store, undefined);
    }
    // A finished run kept for its TTL is not resumed: running the plan again is what was asked.
    return new RunCheckpoint(context, store, read.state.finished ? undefined : read);
  }

  /** The first iteration this run generates. */
  get next(): number {
    return this.point?.state.nextIteration ?? 1;
  }

  /** Puts the checkpoint's iterations, files, usage, timings and warnings back into the record; returns the loop's variables. */
  restore(record: RunRecord): LoopState {
    const state = this.point?.state;
    if (!state) return emptyLoop();
    // Field by field: the model must get back the same shape of file it gets in a fresh run.
    const file = ({ sha256: hash, ...rest }: CheckpointFile): GeneratedFile => ({ ...rest, content: state.contents[hash]! });
    const filesOf = new Map(state.iterationFiles.map((entry) => [entry.iteration, entry.files]));
    for (const entry of state.iterations) {
      const refs = filesOf.get(entry.iteration);
      record.restore({ ...entry }, refs?.map((ref) => toBundleFile(file(ref))));
    }
    if (state.candidates) record.candidates = state.candidates.map((entry) => ({ ...entry }));
    record.usage = { ...state.usage };
    record.priorMs = state.timings.elapsedMs;
    record.queuedMs += state.timings.queuedMs;
    record.cacheMs += state.timings.cacheMs;
    record.generationMs += state.timings.generationMs;
    record.testMs += state.timings.testMs;
    this.context.warnings.push(...state.warnings);
    const attempt = (saved: CheckpointState['previous']): Attempt => ({ files: saved.files.map(file), report: saved.report });
    return { previous: attempt(state.previous), baseline: attempt(state.baseline), problem: state.problem, lastError: state.lastError };
  }

  /** Saves the state before `iteration` (every earlier one done); the first iteration of a run has nothing new to save. */
  async save(record: RunRecord, loop: LoopState, iteration: number, signal: AbortSignal): Promise<void> {
    this.loop = loop;
    if (!this.store || iteration <= this.next) return;
    await this.write(this.state(record, loop, iteration), this.context.options.checkpointTtlMs || PENDING_TTL_MS, signal);
  }

  /** After the run: an interrupted run keeps its checkpoint; a decided one's is deleted, or kept as finished for `checkpointTtlMs`. */
  async finish(record: RunRecord, outcome: Outcome, signal: AbortSignal | undefined): Promise<void> {
    if (!this.store || INTERRUPTED.has(outcome.stopReason)) return;
    const { options, plan } = this.context;
    const callSignal = signal ?? new AbortController().signal;
    if (options.checkpointTtlMs > 0) {
      const loop = this.loop ?? emptyLoop();
      await this.write({ ...this.state(record, loop, record.iterations.length + 1), finished: { stopReason: outcome.stopReason } }, options.checkpointTtlMs, callSignal);
      return;
    }
    const store = this.store;
    try {
      await withTimeout((inner) => store.delete(plan.executionId, { signal: inner }), options.cacheTimeoutMs, callSignal, 'checkpoint delete');
    } catch (error) {
      if (!callSignal.aborted) this.context.warn('CHECKPOINT_FAILED', `deleting the finished run's checkpoint failed: ${describe(error)}`);
    }
  }

  private async write(state: CheckpointState, ttlMs: number, signal: AbortSignal): Promise<void> {
    const store = this.store!;
    // Files with secrets never get this far (refused as model output); anything else that holds
    // one (a plan, a report) makes the checkpoint unsaved, never rewritten.
    if (this.context.redactor.containsIn(state)) {
      this.context.warn('CHECKPOINT_FAILED', 'the checkpoint was not saved: it would contain a secret value');
      return;
    }
    try {
      await withTimeout((inner) => store.save(state.executionId, state, { signal: inner, ttlMs }), this.context.options.cacheTimeoutMs, signal, 'checkpoint save');
    } catch (error) {
      if (!signal.aborted) this.context.warn('CHECKPOINT_FAILED', `saving the checkpoint failed, the run goes on without it: ${describe(error)}`);
    }
  }

  private state(record: RunRecord, loop: LoopState, nextIteration: number): CheckpointState {
    const { plan, options, preset } = this.context;
    const contents: Record<string, string> = {};
    const ref = (file: GeneratedFile | BundleFile): CheckpointFile => {
      const hash = 'sha256' in file ? file.sha256 : sha256(file.content);
      contents[hash] = file.content;
      return { path: file.path, sha256: hash, kind: file.kind, ...(file.language !== undefined ? { language: file.language } : {}), ...(file.description !== undefined ? { description: file.description } : {}) };
    };
    const attempt = (saved: Attempt) => ({ files: saved.files.map(ref), ...(saved.report ? { report: saved.report } : {}) });
    const state: CheckpointState = {
      version: CHECKPOINT_VERSION,
      executionId: plan.executionId,
      planHash: checkpointPlanHash(plan),
      generatorId: options.generator.id,
      testPresetId: preset.id,
      savedAt: new Date().toISOString(),
      plan,
      nextIteration,
      // Only iterations that ended: the one about to start is not in the state.
      iterations: record.iterations.filter((entry) => entry.iteration < nextIteration).map((entry) => ({ ...entry })),
      ...(record.candidates.length > 0 ? { candidates: record.candidates.map((entry) => ({ ...entry })) } : {}),
      iterationFiles: record.iterationFiles().map(([iteration, files]) => ({ iteration, files: files.map(ref) })),
      contents,
      usage: { ...record.usage },
      timings: {
        elapsedMs: record.priorMs + performance.now() - record.started,
        queuedMs: record.queuedMs,
        cacheMs: record.cacheMs,
        generationMs: record.generationMs,
        testMs: record.testMs,
      },
      warnings: [...this.context.warnings],
      previous: attempt(loop.previous),
      baseline: attempt(loop.baseline),
    };
    if (loop.problem !== undefined) state.problem = loop.problem;
    if (loop.lastError !== undefined) state.lastError = loop.lastError;
    return state;
  }
}

function emptyLoop(): LoopState {
  return { previous: { files: [], report: undefined }, baseline: { files: [], report: undefined }, problem: undefined, lastError: undefined };
}

function describe(error: unknown): string {
  return trimMiddle(error instanceof Error ? error.message || error.name : String(error), 500).text;
}
