import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { BUNDLE_STATUSES, STOP_REASONS } from '../index.js';

export const EVAL_REPORT_FORMAT = 1;

/** One problem's outcome. */
export const EvalRowSchema = z.object({
  id: z.string(),
  /** The bundle's status: `success` means green on the model's own tests (and acceptance tests). */
  status: z.enum(BUNDLE_STATUSES),
  stopReason: z.enum(STOP_REASONS),
  selfGreen: z.boolean(),
  heldOutPassed: z.boolean(),
  /** Green on its own tests, red held-out. */
  falseGreen: z.boolean(),
  heldOut: z.object({
    passed: z.int().min(0),
    failed: z.int().min(0),
    errored: z.int().min(0),
    skipped: z.int().min(0),
    reason: z.string().optional(),
    durationMs: z.number().min(0),
  }),
  /** Generate/test rounds the run made. */
  iterations: z.int().min(0),
  /** The iteration that went green, `null` when none did. */
  iterationsToGreen: z.int().min(1).nullable(),
  inputTokens: z.int().min(0),
  outputTokens: z.int().min(0),
  /** Every token of the run: input, output, cache writes and reads. */
  totalTokens: z.int().min(0),
  /** `null` when the generator could not price its model. */
  costUsd: z.number().min(0).nullable(),
  /** The agent's run, queue excluded. */
  runMs: z.number().min(0),
  /** Why the agent's run did not end green (the bundle's error), e.g. a generation failure. */
  agentError: z.string().optional(),
  /** The harness itself failed on this problem (e.g. the held-out sandbox did not open); run again on resume. */
  error: z.string().optional(),
});
export type EvalRow = z.infer<typeof EvalRowSchema>;

export const EvalSummarySchema = z.object({
  /** Problems in the selection (after filter, offset and limit). */
  selected: z.int().min(0),
  /** Problems with a row. */
  evaluated: z.int().min(0),
  /** Selected problems left without a row (the suite budget ran out, or the run was cancelled). */
  notRun: z.int().min(0),
  heldOutPassed: z.int().min(0),
  /** heldOutPassed / evaluated. */
  passAt1: z.number().nullable(),
  selfGreen: z.int().min(0),
  /** selfGreen / evaluated. */
  selfGreenRate: z.number().nullable(),
  falseGreen: z.int().min(0),
  /** falseGreen / selfGreen: how often "green" was wrong. */
  falseGreenRate: z.number().nullable(),
  /** Red on its own tests but passing held-out (the model's tests were wrong, the code right). */
  falseRed: z.int().min(0),
  /** Mean of iterationsToGreen over self-green problems. */
  meanIterationsToGreen: z.number().nullable(),
  totalTokens: z.int().min(0),
  tokensPerTask: z.number().nullable(),
  tokensPerSolvedTask: z.number().nullable(),
  /** `null` when a row's cost is unknown. */
  costUsd: z.number().nullable(),
  costUsdPerTask: z.number().nullable(),
  costUsdPerSolvedTask: z.number().nullable(),
  /** Wall time of the eval, summed over resumed sessions. */
  wallMs: z.number().min(0),
  /** Sum of the agent runs' durations (more than wallMs with concurrency). */
  runMs: z.number().min(0),
  heldOutMs: z.number().min(0),
});
export type EvalSummary = z.infer<typeof EvalSummarySchema>;

export const EvalConfigSchema = z.object({
  suite: z.string(),
  suiteFormat: z.string(),
  generator: z.string(),
  runner: z.string(),
  mode: z.enum(['held-out', 'acceptance']),
  maxIterations: z.int().min(1),
  concurrency: z.int().min(1),
  timeoutMs: z.int().min(1).nullable(),
  maxTokensPerProblem: z.int().min(1).nullable(),
  maxCostUsdPerProblem: z.number().positive().nullable(),
  maxTokens: z.int().min(1).nullable(),
  maxCostUsd: z.number().positive().nullable(),
  selection: z.object({ offset: z.int().min(0), limit: z.int().min(0).nullable(), filter: z.string().nullable() }),
});
export type EvalConfig = z.infer<typeof EvalConfigSchema>;

export const EvalReportSchema = z.object({
  format: z.literal(EVAL_REPORT_FORMAT),
  config: EvalConfigSchema,
  startedAt: z.string(),
  updatedAt: z.string(),
  /** True once every selected problem has a row. */
  complete: z.boolean(),
  /** Why the last session stopped before the end, e.g. the suite budget. */
  stoppedBecause: z.string().optional(),
  summary: EvalSummarySchema,
  rows: z.array(EvalRowSchema),
});
export type EvalReport = z.infer<typeof EvalReportSchema>;

const ratio = (numerator: number, denominator: number): number | null => (denominator === 0 ? null : numerator / denominator);

export function summarize(rows: readonly EvalRow[], selected: number, wallMs: number): EvalSummary {
  const heldOutPassed = rows.filter((row) => row.heldOutPassed).length;
  const selfGreen = rows.filter((row) => row.selfGreen).length;
  const falseGreen = rows.filter((row) => row.falseGreen).length;
  const falseRed = rows.filter((row) => !row.selfGreen && row.heldOutPassed).length;
  const greenIterations = rows.flatMap((row) => (row.iterationsToGreen === null ? [] : [row.iterationsToGreen]));
  const totalTokens = rows.reduce((sum, row) => sum + row.totalTokens, 0);
  const costUsd = rows.some((row) => row.costUsd === null) ? null : rows.reduce((sum, row) => sum + (row.costUsd ?? 0), 0);
  return {
    selected,
    evaluated: rows.length,
    notRun: Math.max(0, selected - rows.length),
    heldOutPassed,
    passAt1: ratio(heldOutPassed, rows.length),
    selfGreen,
    selfGreenRate: ratio(selfGreen, rows.length),
    falseGreen,
    falseGreenRate: ratio(falseGreen, selfGreen),
    falseRed,
    meanIterationsToGreen: greenIterations.length === 0 ? null : greenIterations.reduce((a, b) => a + b, 0) / greenIterations.length,
    totalTokens,
    tokensPerTask: ratio(totalTokens, rows.length),
    tokensPerSolvedTask: ratio(totalTokens, heldOutPassed),
    costUsd,
    costUsdPerTask: costUsd === null ? null : ratio(costUsd, rows.length),
    costUsdPerSolvedTask: costUsd === null ? null : ratio(costUsd, heldOutPassed),
    wallMs,
    runMs: rows.reduce((sum, row) => sum + row.runMs, 0),
    heldOutMs: rows.reduce((sum, row) => sum + row.heldOut.durationMs, 0),
  };
}

/** Reads a report written by `writeReport`, validated; `undefined` when the file does not exist. */
export async function readReport(path: string): Promise<EvalReport | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not a JSON eval report: ${(error as Error).message}`);
  }
  const parsed = EvalReportSchema.safeParse(value);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new Error(`${path} is not an eval report of format ${EVAL_REPORT_FORMAT}: ${first.path.join('.') || 'the file'}: ${first.message}`);
  }
  return parsed.data;
}

/** Writes the JSON report and its Markdown twin (`<path without .json>.md`), each atomically. */
export async function writeReport(path: string, report: EvalReport): Promise<{ json: string; markdown: string }> {
  const markdownPath = `${path.replace(/\.json$/i, '')}.md`;
  await mkdir(dirname(path), { recursive: true });
  await writeAtomically(path, `${JSON.stringify(report, null, 2)}\n`);
  await writeAtomically(markdownPath, renderMarkdown(report));
  return { json: path, markdown: markdownPath };
}

async function writeAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, path);
}

const percent = (value: number | null) => (value === null ? '—' : `${(value * 100).toFixed(1)}%`);
const usd = (value: number | null) => (value === null ? 'unknown' : `$${value < 0.01 && value > 0 ? value.toFixed(5) : value.toFixed(4)}`);
const number = (value: number | null, digits = 0) => (value === null ? '—' : value.toFixed(digits));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Markdown text: nothing a suite or a model wrote can break the table or inject markup. */
function cell(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[\\`*_[\]<>|#]/g, (character) => `\\${character}`).slice(0, 160);
}

/** The headline figures, as rows of [figure, value]. Shared by the Markdown report and the terminal. */
export function headlineFigures(summary: EvalSummary): Array<[string, string]> {
  return [
    ['held-out pass@1', `${summary.heldOutPassed}/${summary.evaluated} (${percent(summary.passAt1)})`],
    ['self-green rate', `${summary.selfGreen}/${summary.evaluated} (${percent(summary.selfGreenRate)})`],
    ['false-green rate', `${summary.falseGreen}/${summary.selfGreen} (${percent(summary.falseGreenRate)})`],
    ['red on own tests, passed held-out', String(summary.falseRed)],
    ['mean iterations to green', number(summary.meanIterationsToGreen, 2)],
    ['tokens per task / per solved task', `${number(summary.tokensPerTask)} / ${number(summary.tokensPerSolvedTask)}`],
    ['USD total / per task / per solved task', `${usd(summary.costUsd)} / ${usd(summary.costUsdPerTask)} / ${usd(summary.costUsdPerSolvedTask)}`],
    ['wall time', seconds(summary.wallMs)],
    ['not run', String(summary.notRun)],
  ];
}

export function renderMarkdown(report: EvalReport): string {
  const { config, summary } = report;
  const lines = [
    `# Eval: ${cell(config.generator)} on ${cell(config.suite)}`,
    '',
    `Mode **${config.mode}**, runner \`${cell(config.runner)}\`, up to ${config.maxIterations} iteration(s) per problem, concurrency ${config.concurrency}. ` +
      `Started ${report.startedAt}, updated ${report.updatedAt}${report.complete ? '' : ' — **incomplete**'}${report.stoppedBecause ? ` (${cell(report.stoppedBecause)})` : ''}.`,
    '',
    '| figure | value |',
    '|---|---|',
    ...headlineFigures(summary).map(([name, value]) => `| ${name} | ${value} |`),
    '',
    '## Problems',
    '',
    '| problem | held-out | own tests | iterations | tokens | USD | run | held-out reason |',
    '|---|---|---|---|---|---|---|---|',
    ...report.rows.map((row) =>
      [
        '',
        cell(row.id),
        row.heldOutPassed ? 'pass' : 'FAIL',
        row.selfGreen ? (row.falseGreen ? 'green (false)' : 'green') : cell(row.status),
        String(row.iterations),
        String(row.totalTokens),
        usd(row.costUsd),
        seconds(row.runMs),
        cell(row.error ?? row.heldOut.reason ?? ''),
        '',
      ].join(' | ').trim(),
    ),
    '',
  ];
  return lines.join('\n');
}
