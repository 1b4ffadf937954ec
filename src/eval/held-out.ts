import { verifyBundle, type ArtifactBundle, type Plan, type SandboxFile, type SandboxRunner, type TestPreset, type TestReport } from '../index.js';

export interface HeldOutRunOptions {
  runner: SandboxRunner;
  /** The plan the bundle was made for: its language and dependencies are used. */
  plan: Plan;
  bundle: ArtifactBundle;
  /** The preset the agent used for the plan's language (`agent.testPresetFor(plan.language)`). */
  preset: TestPreset;
  testFile: SandboxFile;
  timeoutMs: number;
  signal: AbortSignal;
  /** Environment of the session (the agent's `sandboxEnv`). @default {} */
  env?: Readonly<Record<string, string>>;
}

export interface HeldOutResult {
  /** At least one held-out case passed and none failed, errored or was skipped. */
  passed: boolean;
  /** Cases of the held-out run, by status. */
  cases: { passed: number; failed: number; errored: number; skipped: number };
  /** Why it is red, in one short text (the first failing case's message, or the run's problem). */
  reason?: string;
  report: TestReport;
}

/**
 * Runs the held-out test against the bundle's files, in a FRESH session of the same runner: the
 * bundle's non-acceptance files plus the held-out test file, and nothing else (nothing an agent
 * run left behind, no acceptance test the model saw). The held-out file runs on its own in the
 * preset's acceptance invocation (`verifyBundle`), so a `conftest.py` or `pytest.ini` the model
 * wrote cannot configure it: the verdict is about the model's code, not about its own tests.
 */
export async function runHeldOutTest(options: HeldOutRunOptions): Promise<HeldOutResult> {
  const { runner, plan, bundle, preset, testFile, signal } = options;
  const verified = await verifyBundle(bundle, {
    runner,
    preset,
    tests: [testFile],
    dependencies: plan.dependencies,
    env: options.env ?? {},
    timeoutMs: options.timeoutMs,
    signal,
  });
  return judge(verified.report, testFile.path, verified.problem);
}

function judge(report: TestReport, path: string, problem: string | undefined): HeldOutResult {
  // The command ran the held-out file only, so every case in the report is charged to it: a case
  // from elsewhere (a run-level error, a conftest the model wrote) can only make it red.
  const cases = { passed: report.passed, failed: report.failed, errored: report.errored, skipped: report.skipped };
  const passed = problem === undefined && report.success && cases.passed > 0 && cases.failed === 0 && cases.errored === 0 && cases.skipped === 0;
  const result: HeldOutResult = { passed, cases, report };
  if (!passed) {
    const failing = report.cases.find((testCase) => testCase.status === 'failed' || testCase.status === 'errored');
    const reason =
      failing?.message ??
      report.problem ??
      problem ??
      (cases.passed === 0 ? `no case of ${path} passed` : cases.skipped > 0 ? `${cases.skipped} case(s) of ${path} were skipped` : 'the test run failed');
    result.reason = reason.length > 500 ? `${reason.slice(0, 500)}…` : reason;
  }
  return result;
}
