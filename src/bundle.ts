import { z } from 'zod';
import { ERROR_CODES } from './errors.js';
import { isSafeRelativePath, normalizeRelativePath } from './internal/paths.js';
import { LanguageSchema } from './plan.js';
import { UsageSchema } from './usage.js';

export { type Usage, UsageSchema, addUsage, emptyUsage, totalTokens } from './usage.js';

export const FILE_KINDS = ['source', 'test', 'config', 'documentation', 'data'] as const;
export const FileKindSchema = z.enum(FILE_KINDS);
export type FileKind = z.infer<typeof FileKindSchema>;

/** A file as a generator returns it. Paths are checked by the agent before any sandbox sees them. */
export const GeneratedFileSchema = z.object({
  path: z.string().min(1).max(1024),
  content: z.string(),
  kind: FileKindSchema.default('source'),
  language: z.string().max(50).optional(),
  description: z.string().max(2_000).optional(),
});
export type GeneratedFile = z.output<typeof GeneratedFileSchema>;
export type GeneratedFileInput = z.input<typeof GeneratedFileSchema>;

/**
 * A path as bundles hold it: relative, normalised, inside its root. Enforced wherever a bundle is
 * read (a cache entry, a file on disk), not only where the agent wrote it.
 */
export const SafePathSchema = z.string().min(1).max(1024).refine((path) => isSafeRelativePath(path) && normalizeRelativePath(path) === path, {
  error: 'must be a normalised relative path inside the project',
});

export const BundleFileSchema = GeneratedFileSchema.extend({
  path: SafePathSchema,
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.int().min(0),
  /** True for the plan's acceptance tests, which the model can read but never change. */
  acceptance: z.boolean().default(false),
});
export type BundleFile = z.output<typeof BundleFileSchema>;

export const TEST_CASE_STATUSES = ['passed', 'failed', 'skipped', 'errored'] as const;
export const TestCaseSchema = z.object({
  name: z.string(),
  /** The class or suite name the runner reported, e.g. `tests.test_calc`. */
  suite: z.string().optional(),
  file: z.string().optional(),
  status: z.enum(TEST_CASE_STATUSES),
  message: z.string().optional(),
  durationMs: z.number().min(0).optional(),
  /** True for a case of the acceptance run (the plan's acceptance tests, run on their own). */
  acceptance: z.boolean().optional(),
});
export type TestCase = z.infer<typeof TestCaseSchema>;

/** What every test run reports, whichever run it was: command, exit, counts, verdict, output. */
const TestRunSchema = z.object({
  command: z.string(),
  /** `null` when the process was killed (timeout) before it exited. */
  exitCode: z.int().nullable(),
  passed: z.int().min(0),
  failed: z.int().min(0),
  skipped: z.int().min(0),
  errored: z.int().min(0),
  success: z.boolean(),
  /** Why a run with no failing case still counts as red, e.g. "no tests collected". */
  problem: z.string().optional(),
  stdout: z.string(),
  stderr: z.string(),
  timedOut: z.boolean(),
  durationMs: z.number().min(0),
});

/**
 * The acceptance tests' own run, in the invocation the agent configures (its cases are in
 * `cases`); `success`: every acceptance file had a passed case and none failed, errored, skipped
 * or xfailed.
 */
export const AcceptanceRunSchema = TestRunSchema;
export type AcceptanceRun = z.infer<typeof AcceptanceRunSchema>;

/** `success` is true only when tests ran, none failed or errored, and at least one passed. */
export const TestReportSchema = TestRunSchema.extend({
  cases: z.array(TestCaseSchema),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  /**
   * Present when the acceptance tests also ran on their own (only after the model's run was
   * green); `success` then requires both runs green.
   */
  acceptance: AcceptanceRunSchema.optional(),
});
export type TestReport = z.infer<typeof TestReportSchema>;

export const ErrorInfoSchema = z.object({
  code: z.enum(ERROR_CODES),
  message: z.string(),
});
export type ErrorInfo = z.infer<typeof ErrorInfoSchema>;

/** What the model did to its own tests since the previous tested iteration (only when it weakened them). */
export const TestIntegritySchema = z.object({
  /** Test files of the previous iteration that are gone (at most 20 listed). */
  removedTestFiles: z.array(z.string()),
  /** `suite::name` of cases that ran before and no longer exist (at most 20 listed). */
  removedCases: z.array(z.string()),
  removedCaseCount: z.int().min(0),
  /** Cases that ran before and are skipped now (at most 20 listed). */
  newlySkipped: z.array(z.string()),
  /** More skip/xfail/todo markers in the test files than before. */
  skipMarkersAdded: z.int().min(0),
  /** Fewer assertions in the test files than before. */
  assertionsRemoved: z.int().min(0).default(0),
  /** Test-framework configuration files (conftest.py, pytest.ini, tox.ini…) added or changed (at most 20 listed). */
  testConfigChanged: z.array(z.string()).default([]),
  /** The model's own cases in this run and in the previous one. */
  cases: z.int().min(0),
  previousCases: z.int().min(0),
});
export type TestIntegrity = z.infer<typeof TestIntegritySchema>;

export const IterationRecordSchema = z.object({
  iteration: z.int().min(1),
  /** Which of the plan's candidates (1-based) this record is, in iteration 1 of a plan with `candidates` above 1. */
  candidate: z.int().min(1).optional(),
  /** Files the model produced in this iteration, after path checks (content lives in `files`). */
  files: z.array(z.object({ path: SafePathSchema, sha256: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.int().min(0) })),
  usage: UsageSchema,
  notes: z.string().optional(),
  testReport: TestReportSchema.optional(),
  /** Set when the model weakened its own tests in this iteration (a `TESTS_WEAKENED` warning too). */
  integrity: TestIntegritySchema.optional(),
  /** Why this iteration produced no test result (generation failed, output rejected, sandbox failed). */
  error: ErrorInfoSchema.optional(),
  generationMs: z.number().min(0),
  testMs: z.number().min(0),
});
export type IterationRecord = z.infer<typeof IterationRecordSchema>;

export const BUNDLE_STATUSES = ['success', 'partial_success', 'failure', 'timeout', 'cancelled'] as const;
export const BundleStatusSchema = z.enum(BUNDLE_STATUSES);
export type BundleStatus = z.infer<typeof BundleStatusSchema>;

export const STOP_REASONS = [
  'tests_passed',
  'testing_disabled',
  'max_iterations',
  'token_budget',
  'cost_budget',
  'generation_failed',
  'sandbox_failed',
  'timeout',
  'cancelled',
] as const;
export type StopReason = (typeof STOP_REASONS)[number];

export const TimingsSchema = z.object({
  /** ISO 8601, UTC. */
  startedAt: z.string(),
  endedAt: z.string(),
  totalMs: z.number().min(0),
  queuedMs: z.number().min(0),
  cacheMs: z.number().min(0),
  /** Time to open the sandbox and install dependencies (mostly hidden behind generation). */
  sandboxOpenMs: z.number().min(0),
  generationMs: z.number().min(0),
  testMs: z.number().min(0),
});
export type Timings = z.infer<typeof TimingsSchema>;

export const ArtifactBundleSchema = z.object({
  executionId: z.string().min(1),
  status: BundleStatusSchema,
  stopReason: z.enum(STOP_REASONS),
  /** The files of `bestIteration` plus the acceptance tests. */
  files: z.array(BundleFileSchema),
  /** The test report of `bestIteration`. */
  testReport: TestReportSchema.optional(),
  /** The iteration whose files are returned: the green one, else the one with the most passing tests. */
  bestIteration: z.int().min(0),
  iterations: z.array(IterationRecordSchema),
  /**
   * Every candidate of iteration 1, by candidate, when the plan asked for more than one (each
   * with its report); the one that went on is also `iterations[0]`. `usage` counts them all.
   */
  candidates: z.array(IterationRecordSchema).optional(),
  usage: UsageSchema,
  timings: TimingsSchema,
  fromCache: z.boolean(),
  cacheKey: z.string().optional(),
  generator: z.string(),
  language: LanguageSchema,
  /** The sandbox the tests ran in, and the isolation it actually gave (when the runner says). */
  sandbox: z.object({ runner: z.string(), id: z.string(), isolation: z.string().max(100).optional() }).optional(),
  warnings: z.array(z.string()),
  error: ErrorInfoSchema.optional(),
});
export type ArtifactBundle = z.infer<typeof ArtifactBundleSchema>;

