import type { ArtifactBundle, TestReport } from './bundle.js';
import type { SandboxFile, SandboxRunner } from './contracts/sandbox-runner.js';
import { normalizeRelativePath } from './internal/paths.js';
import { durationMs } from './internal/validate.js';
import type { TestPreset } from './reports/presets.js';
import { acceptanceProblem, runAcceptance } from './reports/verdict.js';

export interface VerifyBundleOptions {
  /** Opens the fresh sandbox; the same runner as the agent's, or any other. */
  runner: SandboxRunner;
  /** The preset of the bundle's language (`agent.testPresetFor(bundle.language)`). */
  preset: TestPreset;
  /** Your tests: run on their own against the bundle's files, as acceptance tests are. */
  tests: readonly SandboxFile[];
  /** Installed in the sandbox besides the preset's own. @default [] */
  dependencies?: readonly string[];
  /** Environment of the session. @default {} */
  env?: Readonly<Record<string, string>>;
  /** Limit of the test command, in ms. @default 120000 */
  timeoutMs?: number;
  /** How long to wait for the sandbox to close, in ms (closing goes on after that). @default 10000 */
  closeTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface VerifyResult {
  /** Every test file had a passed case and none failed, errored, skipped or xfailed. */
  passed: boolean;
  /** Why not, when not. */
  problem?: string;
  report: TestReport;
}

/**
 * Re-verifies a bundle in a fresh sandbox: its files (not its acceptance tests) plus `tests`, and
 * nothing else — nothing a run left behind — with `tests` run in the preset's acceptance
 * invocation, which the bundle's files cannot configure. For tests the model never saw (held-out
 * tests), or a second opinion on a green bundle in a process its code has not run in before. The
 * session is closed on every path.
 */
export async function verifyBundle(bundle: ArtifactBundle, options: VerifyBundleOptions): Promise<VerifyResult> {
  const signal = options.signal ?? new AbortController().signal;
  durationMs('timeoutMs', options.timeoutMs, 120_000);
  durationMs('closeTimeoutMs', options.closeTimeoutMs, 10_000);
  const tests = options.tests.map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
  if (tests.length === 0) throw new TypeError('verifyBundle needs at least one test file');
  const testPaths = new Set(tests.map((file) => file.path));
  const workspace = [...bundle.files.filter((file) => !file.acceptance && !testPaths.has(file.path)).map(({ path, content }) => ({ path, content })), ...tests];
  const session = await options.runner.open({
    executionId: `${bundle.executionId}:verify`,
    language: bundle.language,
    dependencies: [...new Set([...options.preset.requiredDependencies, ...(options.dependencies ?? [])])],
    env: options.env ?? {},
    signal,
    // Only the acceptance invocation runs here, always cold: nothing to prepare.
    prepareTestRuns: false,
  });
  try {
    const report = await runAcceptance(session, options.preset, { workspace, testPaths: [...testPaths], signal, timeoutMs: options.timeoutMs ?? 120_000 });
    const problem = acceptanceProblem(report, [...testPaths]);
    return problem === undefined ? { passed: true, report } : { passed: false, problem, report };
  } finally {
    // Bounded like the agent's own closes: a runner whose close hangs must not hang the caller.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([session.close().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, options.closeTimeoutMs ?? 10_000)))]);
    clearTimeout(timer);
  }
}
