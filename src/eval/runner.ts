import { randomUUID } from 'node:crypto';
import {
  LocalSandboxRunner,
  PTCAgent,
  parsePlan,
  totalTokens,
  type CodeGenerator,
  type PTCAgentOptions,
  type SandboxRunner,
} from '../index.js';
import { runHeldOutTest } from './held-out.js';
import { EVAL_MODES, problemToPlan, type EvalMode } from './problem-plan.js';
import { EVAL_REPORT_FORMAT, summarize, type EvalConfig, type EvalReport, type EvalRow } from './report.js';
import { selectProblems, type EvalProblem, type ProblemSelection, type Suite } from './suite.js';
import { positiveInteger } from '../internal/validate.js';

export interface EvalBudget {
  /** Token ceiling of one problem's run (the plan's `budget.maxTokens`). */
  maxTokensPerProblem?: number;
  /** USD ceiling of one problem's run (the plan's `budget.maxCostUsd`). */
  maxCostUsdPerProblem?: number;
  /**
   * Tokens for the whole eval: no problem starts once they are spent, and each run gets at most
   * what is left. Runs already in flight finish, so concurrency can overshoot a little.
   */
  maxTokens?: number;
  /** USD for the whole eval, like `maxTokens`. Needs a generator that knows its prices. */
  maxCostUsd?: number;
}

export interface EvalProgress {
  /** Problems with a row, resumed ones included. */
  done: number;
  /** Problems selected (resumed ones included). */
  total: number;
  running: number;
  heldOutPassed: number;
  selfGreen: number;
  falseGreen: number;
  tokens: number;
  /** `null` once any cost is unknown. */
  costUsd: number | null;
  elapsedMs: number;
  /** The row that just finished, if any. */
  last?: EvalRow;
}

export interface EvalOptions {
  suite: Suite;
  generator: CodeGenerator;
  /** Runs the agent's tests and the held-out tests. @default new LocalSandboxRunner() */
  runner?: SandboxRunner;
  /** @default 'held-out' */
  mode?: EvalMode;
  selection?: ProblemSelection;
  /** Problems evaluated at once (agent run + held-out run each). @default 2 */
  concurrency?: number;
  /** Generate/test rounds per problem. @default 3 */
  maxIterations?: number;
  /** Wall-clock limit of one problem's agent run. @default the agent's default (300000) */
  timeoutMs?: number;
  /** Limit of the held-out test command. @default 120000 */
  heldOutTimeoutMs?: number;
  budget?: EvalBudget;
  /** A report of an earlier, interrupted session of the same eval: its problems are not run again. */
  resume?: EvalReport;
  /** More agent options (test presets, timeouts, sandbox env). The cache is always off. */
  agentOptions?: Omit<PTCAgentOptions, 'generator' | 'runner' | 'cache' | 'maxConcurrent'>;
  signal?: AbortSignal;
  onProgress?: (progress: EvalProgress) => void;
  /** Called after each finished problem, one call at a time, with the report so far (to persist it). */
  onReport?: (report: EvalReport) => void | Promise<void>;
}

/** The resumed report belongs to another eval: mixing their rows would make every figure meaningless. */
export class EvalResumeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EvalResumeError';
  }
}


function positiveNumber(name: string, value: number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name} must be a positive number, got ${String(value)}`);
  return value;
}

/**
 * Runs every selected problem through a `PTCAgent` (the model writes code and its own tests in the
 * normal loop), then the suite's test against the final bundle in a fresh session, and resolves
 * with the report. Problems already in `resume` are skipped; rows whose harness failed (`error`)
 * are run again.
 */
export async function runEval(options: EvalOptions): Promise<EvalReport> {
  const mode = options.mode ?? 'held-out';
  if (!EVAL_MODES.includes(mode)) throw new TypeError(`mode must be one of ${EVAL_MODES.join(', ')}, got ${String(mode)}`);
  const concurrency = positiveInteger('concurrency', options.concurrency, 2);
  const maxIterations = positiveInteger('maxIterations', options.maxIterations, 3);
  const timeoutMs = options.timeoutMs === undefined ? undefined : positiveInteger('timeoutMs', options.timeoutMs, 1);
  const heldOutTimeoutMs = positiveInteger('heldOutTimeoutMs', options.heldOutTimeoutMs, 120_000);
  const budget = options.budget ?? {};
  const maxTokensPerProblem = budget.maxTokensPerProblem === undefined ? undefined : positiveInteger('budget.maxTokensPerProblem', budget.maxTokensPerProblem, 1);
  const maxTokens = budget.maxTokens === undefined ? undefined : positiveInteger('budget.maxTokens', budget.maxTokens, 1);
  const maxCostUsdPerProblem = positiveNumber('budget.maxCostUsdPerProblem', budget.maxCostUsdPerProblem);
  const maxCostUsd = positiveNumber('budget.maxCostUsd', budget.maxCostUsd);
  const runner = options.runner ?? new LocalSandboxRunner();
  const selection = options.selection ?? {};
  const selected = selectProblems(options.suite.problems, selection);

  const config: EvalConfig = {
    suite: options.suite.source,
    suiteFormat: options.suite.format,
    generator: options.generator.id,
    runner: runner.id,
    mode,
    maxIterations,
    concurrency,
    timeoutMs: timeoutMs ?? null,
    maxTokensPerProblem: maxTokensPerProblem ?? null,
    maxCostUsdPerProblem: maxCostUsdPerProblem ?? null,
    maxTokens: maxTokens ?? null,
    maxCostUsd: maxCostUsd ?? null,
    selection: {
      offset: selection.offset ?? 0,
      limit: selection.limit ?? null,
      filter: selection.filter === undefined ? null : String(selection.filter),
    },
  };
  const resumed = options.resume;
  if (resumed) checkResumable(resumed.config, config);
  const rows: EvalRow[] = resumed ? resumed.rows.filter((row) => row.error === undefined) : [];
  const done = new Set(rows.map((row) => row.id));
  const todo = selected.filter((problem) => !done.has(problem.id));
  const total = new Set([...selected.map((problem) => problem.id), ...done]).size;
  const startedAt = resumed?.startedAt ?? new Date().toISOString();
  const priorWallMs = resumed?.summary.wallMs ?? 0;
  const started = performance.now();
  const runId = randomUUID().slice(0, 8);

  const agent = new PTCAgent({ ...options.agentOptions, generator: options.generator, runner, cache: false, maxConcurrent: concurrency });
  const sandboxEnv = options.agentOptions?.sandboxEnv ?? {};
  let running = 0;
  let stoppedBecause: string | undefined;
  let spentTokens = rows.reduce((sum, row) => sum + row.totalTokens, 0);
  let spentUsd: number | null = rows.some((row) => row.costUsd === null) ? null : rows.reduce((sum, row) => sum + (row.costUsd ?? 0), 0);

  const report = (): EvalReport => ({
    format: EVAL_REPORT_FORMAT,
    config,
    startedAt,
    updatedAt: new Date().toISOString(),
    complete: rows.length >= total && rows.every((row) => row.error === undefined),
    ...(stoppedBecause !== undefined ? { stoppedBecause } : {}),
    summary: summarize(rows, total, priorWallMs + (performance.now() - started)),
    rows: [...rows],
  });
  const progress = (last?: EvalRow) => {
    if (!options.onProgress) return;
    options.onProgress({
      done: rows.length,
      total,
      running,
      heldOutPassed: rows.filter((row) => row.heldOutPassed).length,
      selfGreen: rows.filter((row) => row.selfGreen).length,
      falseGreen: rows.filter((row) => row.falseGreen).length,
      tokens: spentTokens,
      costUsd: spentUsd,
      elapsedMs: performance.now() - started,
      ...(last ? { last } : {}),
    });
  };
  // Reports are handed out one at a time, in order, so a writer never races itself. A writer
  // that fails stops the eval (no problem is run whose row could not be kept) and the error is
  // thrown at the end.
  let persisted: Promise<void> = Promise.resolve();
  let persistError: { error: unknown } | undefined;
  const persist = (snapshot: EvalReport) => {
    if (!options.onReport) return;
    persisted = persisted.then(async () => {
      if (persistError || fatal) return;
      try {
        await options.onReport!(snapshot);
      } catch (error) {
        persistError = { error };
      }
    });
  };

  const budgetLeft = (): { tokens?: number; usd?: number } | 'spent' => {
    if (maxTokens !== undefined && spentTokens >= maxTokens) return 'spent';
    if (maxCostUsd !== undefined && spentUsd !== null && spentUsd >= maxCostUsd) return 'spent';
    const tokens = maxTokens === undefined ? maxTokensPerProblem : Math.min(maxTokens - spentTokens, maxTokensPerProblem ?? Infinity);
    const usd = maxCostUsd === undefined || spentUsd === null ? maxCostUsdPerProblem : Math.min(maxCostUsd - spentUsd, maxCostUsdPerProblem ?? Infinity);
    return { ...(tokens !== undefined ? { tokens } : {}), ...(usd !== undefined ? { usd } : {}) };
  };

  let fatal: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      if (options.signal?.aborted) {
        stoppedBecause ??= 'cancelled';
        return;
      }
      if (persistError || fatal) return;
      const left = budgetLeft();
      if (left === 'spent') {
        stoppedBecause ??= maxTokens !== undefined && spentTokens >= maxTokens ? `the suite token budget (${maxTokens}) was spent` : `the suite cost budget ($${maxCostUsd}) was spent`;
        return;
      }
      const problem = todo[next]!;
      next += 1;
      running += 1;
      progress();
      let row: EvalRow | undefined;
      try {
        row = await evaluateProblem(problem, {
          agent,
          runner,
          mode,
          maxIterations,
          ...(timeoutMs !== undefined ? { timeoutMs } : {}),
          heldOutTimeoutMs,
          ...(left.tokens !== undefined ? { maxTokens: left.tokens } : {}),
          ...(left.usd !== undefined ? { maxCostUsd: left.usd } : {}),
          runId,
          sandboxEnv,
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (error) {
        // Misuse, not a result (e.g. a plan the agent refuses): stop starting problems, let the
        // ones in flight finish and be kept, then reject.
        fatal ??= { error };
        return;
      } finally {
        running -= 1;
      }
      if (row === undefined) {
        stoppedBecause ??= 'cancelled';
        progress();
        continue;
      }
      rows.push(row);
      spentTokens += row.totalTokens;
      spentUsd = spentUsd === null || row.costUsd === null ? null : spentUsd + row.costUsd;
      progress(row);
      persist(report());
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(todo.length, 1)) }, worker));
  // Rows in suite order, whatever order they finished in.
  const order = new Map(options.suite.problems.map((problem, index) => [problem.id, index]));
  rows.sort((a, b) => (order.get(a.id) ?? Infinity) - (order.get(b.id) ?? Infinity));
  const final = report();
  persist(final);
  await persisted;
  if (fatal) throw fatal.error;
  if (persistError) throw persistError.error;
  return final;
}

function checkResumable(previous: EvalConfig, current: EvalConfig): void {
  const keys = ['suite', 'generator', 'runner', 'mode', 'maxIterations'] as const;
  const differences = keys.filter((key) => previous[key] !== current[key]).map((key) => `${key}: ${JSON.stringify(previous[key])} in the report, ${JSON.stringify(current[key])} now`);
  if (differences.length > 0) {
    throw new EvalResumeError(`the report to resume comes from a different eval (${differences.join('; ')}); use another report path`);
  }
}

export interface ProblemContext {
  agent: PTCAgent;
  /** The agent's runner: the held-out run opens a fresh session of it. */
  runner: SandboxRunner;
  mode: EvalMode;
  maxIterations: number;
  timeoutMs?: number;
  heldOutTimeoutMs: number;
  maxTokens?: number;
  maxCostUsd?: number;
  runId: string;
  sandboxEnv?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
}

/**
 * One problem: the agent's run, then the held-out test. Resolves `undefined` when the eval was
 * cancelled before the problem finished (no row: a resumed eval runs it again).
 */
export async function evaluateProblem(problem: EvalProblem, context: ProblemContext): Promise<EvalRow | undefined> {
  const plan = parsePlan(
    problemToPlan(problem, {
      mode: context.mode,
      maxIterations: context.maxIterations,
      runId: context.runId,
      ...(context.timeoutMs !== undefined ? { timeoutMs: context.timeoutMs } : {}),
      ...(context.maxTokens !== undefined ? { maxTokens: Math.max(1, Math.floor(context.maxTokens)) } : {}),
      ...(context.maxCostUsd !== undefined ? { maxCostUsd: context.maxCostUsd } : {}),
    }),
  );
  const bundle = await context.agent.execute(plan, context.signal ? { signal: context.signal } : {});
  if (bundle.status === 'cancelled' || context.signal?.aborted) return undefined;
  const selfGreen = bundle.status === 'success';
  const heldOutStarted = performance.now();
  const row: EvalRow = {
    id: problem.id,
    status: bundle.status,
    stopReason: bundle.stopReason,
    selfGreen,
    heldOutPassed: false,
    falseGreen: false,
    heldOut: { passed: 0, failed: 0, errored: 0, skipped: 0, durationMs: 0 },
    iterations: bundle.iterations.length,
    iterationsToGreen: selfGreen ? (bundle.bestIteration >= 1 ? bundle.bestIteration : bundle.iterations.length) : null,
    inputTokens: bundle.usage.inputTokens,
    outputTokens: bundle.usage.outputTokens,
    totalTokens: totalTokens(bundle.usage),
    costUsd: bundle.usage.costUsd,
    runMs: Math.max(0, bundle.timings.totalMs - bundle.timings.queuedMs),
  };
  if (bundle.error) row.agentError = `${bundle.error.code}: ${bundle.error.message}`.slice(0, 1_000);
  try {
    const heldOut = await runHeldOutTest({
      runner: context.runner,
      plan,
      bundle,
      preset: context.agent.testPresetFor(plan.language),
      testFile: { path: problem.testPath, content: problem.test },
      timeoutMs: context.heldOutTimeoutMs,
      signal: context.signal ?? new AbortController().signal,
      env: context.sandboxEnv ?? {},
    });
    row.heldOutPassed = heldOut.passed;
    row.heldOut = { ...heldOut.cases, durationMs: performance.now() - heldOutStarted };
    if (heldOut.reason !== undefined) row.heldOut.reason = heldOut.reason;
  } catch (error) {
    if (context.signal?.aborted) return undefined;
    row.heldOut.durationMs = performance.now() - heldOutStarted;
    row.error = `the held-out run failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 1_000);
  }
  row.falseGreen = selfGreen && !row.heldOutPassed && row.error === undefined;
  return row;
}
