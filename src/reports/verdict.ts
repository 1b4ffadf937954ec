import { randomBytes } from 'node:crypto';
import type { AcceptanceRun, GeneratedFile, TestCase, TestReport } from '../bundle.js';
import type { RunOptions, SandboxFile, SandboxSession } from '../contracts/sandbox-runner.js';
import { normalizeRelativePath } from '../internal/paths.js';
import { REPORT_PLACEHOLDER, type TestPreset } from './presets.js';
import { caseBelongsTo, runTests } from './run-tests.js';

export interface VerdictInput {
  /** This iteration's files, as the model wrote them (checked). */
  readonly files: readonly GeneratedFile[];
  /** The plan's acceptance tests, paths normalised. */
  readonly acceptanceFiles: readonly SandboxFile[];
  readonly signal: AbortSignal;
  /** What the next test command may take, in ms: asked before each command. */
  readonly timeoutMs: () => number;
  /** Receives the output of both test commands as it arrives (see `RunOptions.onOutput`). */
  readonly onOutput?: RunOptions['onOutput'];
}

/**
 * One iteration's verdict. The workspace is synced to exactly the iteration's files plus the
 * acceptance tests, and the preset's command runs the whole suite (the model's tests and the
 * acceptance tests, under whatever configuration the model wrote). Only when that run is green do
 * the acceptance tests run again, on their own, in a workspace synced afresh (nothing the first
 * run wrote survives) under the preset's `acceptance` invocation, which the model's files cannot
 * configure. Green needs both: the second run must give every acceptance file a passed case and
 * no failed, errored, skipped or xfailed one.
 *
 * The second run costs one more test command per green iteration, not per iteration: a red
 * first run already says what to fix.
 */
export async function judge(session: SandboxSession, preset: TestPreset, input: VerdictInput): Promise<TestReport> {
  const { signal } = input;
  const onOutput = input.onOutput ? { onOutput: input.onOutput } : {};
  const acceptancePaths = input.acceptanceFiles.map((file) => file.path);
  const workspace: SandboxFile[] = [...input.acceptanceFiles, ...input.files.map(({ path, content }) => ({ path, content }))];
  await session.sync(workspace, { signal });
  const pattern = preset.testFilePattern === undefined ? undefined : new RegExp(preset.testFilePattern);
  const isTest = (file: GeneratedFile) => file.kind === 'test' || (pattern?.test(file.path) ?? false);
  const testFiles = [...acceptancePaths, ...input.files.filter((file) => isTest(file) && !acceptancePaths.includes(file.path)).map((file) => file.path)];
  const own = await runTests(session, preset, { timeoutMs: input.timeoutMs(), signal, testFiles, requiredTestFiles: acceptancePaths, ...onOutput });
  if (!own.success || acceptancePaths.length === 0 || !preset.acceptance) return own;

  const run = await runAcceptance(session, preset, { workspace, testPaths: acceptancePaths, signal, timeoutMs: input.timeoutMs(), ...onOutput });
  return merge(own, run, acceptancePaths);
}

/**
 * Syncs the workspace to `workspace` plus the preset's acceptance configuration files, and runs
 * `testPaths` alone under the preset's acceptance invocation (or, for a preset without one, its
 * own command on those files). The report's `problem` is set by the caller's rules
 * (`acceptanceProblem`).
 */
export async function runAcceptance(
  session: SandboxSession,
  preset: TestPreset,
  input: { workspace: readonly SandboxFile[]; testPaths: readonly string[]; signal: AbortSignal; timeoutMs: number; onOutput?: RunOptions['onOutput'] },
): Promise<TestReport> {
  const { signal } = input;
  const invocation = preset.acceptance;
  // A fresh name per run: a report the code wrote in advance, at any path, is never the one read.
  const reportPath = `.ptc/acceptance/${randomBytes(8).toString('hex')}.xml`;
  // The report's directory exists before the run: node's JUnit reporter does not create it.
  const config = [{ path: '.ptc/acceptance/.keep', content: '' }, ...(invocation?.configFiles ?? [])].map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
  const configPaths = new Set(config.map((file) => file.path));
  await session.sync([...input.workspace.filter((file) => !configPaths.has(file.path)), ...config], { signal });
  return runTests(
    session,
    // The test files are always named on the command line: nothing else is collected.
    { ...preset, appendTestFiles: true },
    {
      ...(invocation
        ? { command: invocation.command.map((part) => part.replaceAll(REPORT_PLACEHOLDER, reportPath)), reportPath, ...(invocation.env ? { env: invocation.env } : {}) }
        : {}),
      testFiles: input.testPaths,
      requiredTestFiles: input.testPaths,
      timeoutMs: input.timeoutMs,
      signal,
      ...(input.onOutput ? { onOutput: input.onOutput } : {}),
    },
  );
}

/** Why an acceptance run is not green, or `undefined` when it is. */
export function acceptanceProblem(run: TestReport, paths: readonly string[]): string | undefined {
  if (run.problem !== undefined) return `the acceptance run is red: ${run.problem}`;
  if (run.exitCode !== 0) return `the acceptance run exited with ${run.exitCode ?? 'no exit code'}`;
  const notPassed = run.cases.filter((testCase) => testCase.status !== 'passed');
  if (notPassed.length > 0) {
    const names = notPassed.slice(0, 5).map((testCase) => `${testCase.name} (${testCase.status})`);
    return `acceptance tests must pass, not fail, error, skip or xfail: ${names.join(', ')}${notPassed.length > 5 ? ` and ${notPassed.length - 5} more` : ''}`;
  }
  // pytest names each case's module; node:test's JUnit does not name files, so there the run as a
  // whole must hold at least one passed case per file.
  const attributable = run.cases.some((testCase) => paths.some((path) => caseBelongsTo(testCase, path)));
  if (!attributable) {
    return run.passed >= paths.length ? undefined : `the acceptance run passed ${run.passed} test(s) for ${paths.length} acceptance file(s)`;
  }
  const empty = paths.filter((path) => !run.cases.some((testCase) => caseBelongsTo(testCase, path)));
  return empty.length === 0 ? undefined : `the acceptance file(s) ${empty.join(', ')} ran no test`;
}

/**
 * The iteration's report: the model's run with its acceptance cases replaced by the acceptance
 * run's, the acceptance run beside it, green only if both are.
 */
function merge(own: TestReport, run: TestReport, paths: readonly string[]): TestReport {
  const problem = acceptanceProblem(run, paths);
  const replaced = acceptanceCasesIn(own, run, paths);
  const count = (cases: ReadonlySet<TestCase>, status: TestCase['status']) => [...cases].filter((testCase) => testCase.status === status).length;
  const acceptance: AcceptanceRun = {
    command: run.command,
    exitCode: run.exitCode,
    passed: run.passed,
    failed: run.failed,
    skipped: run.skipped,
    errored: run.errored,
    success: problem === undefined,
    stdout: run.stdout,
    stderr: run.stderr,
    timedOut: run.timedOut,
    durationMs: run.durationMs,
  };
  if (problem !== undefined) acceptance.problem = problem;
  const report: TestReport = {
    ...own,
    passed: own.passed - count(replaced, 'passed') + run.passed,
    failed: own.failed - count(replaced, 'failed') + run.failed,
    skipped: own.skipped - count(replaced, 'skipped') + run.skipped,
    errored: own.errored - count(replaced, 'errored') + run.errored,
    cases: [...own.cases.filter((testCase) => !replaced.has(testCase)), ...run.cases.map((testCase) => ({ ...testCase, acceptance: true }))],
    success: own.success && problem === undefined,
    durationMs: own.durationMs + run.durationMs,
    acceptance,
  };
  if (problem !== undefined) report.problem = problem;
  return report;
}

/**
 * The cases of the model's run that came from the acceptance files, to be replaced by the
 * acceptance run's own. pytest names each case's module, so they are told apart by file; node's
 * JUnit names no files, so each case of the acceptance run (which ran those files alone) stands
 * for one case of the same name and suite in the model's run. Without that the acceptance cases
 * would count twice in the totals.
 */
function acceptanceCasesIn(own: TestReport, run: TestReport, paths: readonly string[]): Set<TestCase> {
  const belongs = (testCase: TestCase) => paths.some((path) => caseBelongsTo(testCase, path));
  if (own.cases.some(belongs) || run.cases.some(belongs)) return new Set(own.cases.filter(belongs));
  const identity = (testCase: TestCase) => `${testCase.suite ?? ''}\u0000${testCase.name}`;
  const wanted = new Map<string, number>();
  for (const testCase of run.cases) wanted.set(identity(testCase), (wanted.get(identity(testCase)) ?? 0) + 1);
  const replaced = new Set<TestCase>();
  for (const testCase of own.cases) {
    const left = wanted.get(identity(testCase)) ?? 0;
    if (left === 0) continue;
    wanted.set(identity(testCase), left - 1);
    replaced.add(testCase);
  }
  return replaced;
}
