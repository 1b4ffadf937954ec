import type { GeneratedFile, TestCase, TestIntegrity, TestReport } from '../bundle.js';
import { caseBelongsTo } from '../reports/run-tests.js';

/** Names listed per kind of change; the counts stay exact. */
const MAX_NAMES = 20;

const TEST_FILE = /(^|\/)(tests?\/|test_[^/]*\.py$|[^/]*_test\.py$|conftest\.py$|[^/]*\.(test|spec)\.[cm]?[jt]sx?$)/;
/** Ways to skip or expect failure in pytest and node:test (and vitest/jest-style runners). */
const SKIP_MARKER =
  /@pytest\.mark\.(skip|skipif|xfail)\b|\bpytest\.(skip|xfail|importorskip)\s*\(|\bunittest\.skip|\b(test|it|describe|suite)\.(skip|todo)\b|[{,]\s*(skip|todo)\s*:\s*(true|['"`])|\bt\.(skip|todo)\s*\(/g;

/** Assertions in pytest, unittest, node:assert, expect-style and t.assert forms. */
const ASSERTION = /\bassert\b|\bassert\w*\s*\(|\bexpect\s*\(|\.(assert\w*|equal|deepEqual|strictEqual|throws|rejects|ok|toBe|toEqual)\s*\(/g;
/** Files that configure the test framework: changing them can change what a run reports. */
const TEST_CONFIG = /(^|\/)(conftest\.py|pytest\.ini|tox\.ini|setup\.cfg|pyproject\.toml|\.mocharc[^/]*|vitest\.config\.[cm]?[jt]s|jest\.config\.[cm]?[jt]s)$/;

const isTestFile = (file: GeneratedFile) => file.kind === 'test' || TEST_FILE.test(file.path);
const assertions = (files: readonly GeneratedFile[]) =>
  files.filter((file) => isTestFile(file) && !TEST_CONFIG.test(file.path)).reduce((total, file) => total + (file.content.match(ASSERTION)?.length ?? 0), 0);
const caseId = (testCase: TestCase) => `${testCase.suite ?? testCase.file ?? ''}::${testCase.name}`;
const markers = (files: readonly GeneratedFile[]) => files.filter(isTestFile).reduce((total, file) => total + (file.content.match(SKIP_MARKER)?.length ?? 0), 0);

/**
 * What the model did to its own tests since the previous iteration: test files removed, cases
 * gone, cases now skipped, skip/xfail markers added, assertions removed, test configuration
 * (conftest.py, pytest.ini…) added or changed, fewer cases. `undefined` when nothing was
 * weakened. Counted from the files and the reports, so it is a signal, not a proof: a model can
 * weaken a test in ways no count sees (an assertion that can no longer fail). The acceptance tests are not the model's and are left out.
 */
export function weakenedTests(
  previous: { files: readonly GeneratedFile[]; report: TestReport | undefined },
  current: { files: readonly GeneratedFile[]; report: TestReport },
  acceptancePaths: readonly string[],
): TestIntegrity | undefined {
  // The first tested iteration has nothing to compare with (the common case: skip the scans).
  if (previous.files.length === 0 && previous.report === undefined) return undefined;
  const own = (report: TestReport | undefined) =>
    (report?.cases ?? []).filter((testCase) => !testCase.acceptance && testCase.name !== 'test run' && !acceptancePaths.some((path) => caseBelongsTo(testCase, path)));
  const before = own(previous.report);
  const after = own(current.report);
  const afterById = new Map(after.map((testCase) => [caseId(testCase), testCase]));
  const currentPaths = new Set(current.files.map((file) => file.path));
  const removedTestFiles = previous.files.filter((file) => isTestFile(file) && !currentPaths.has(file.path)).map((file) => file.path);
  // Only cases of a report that ran: a crashed run lists no case and removed none.
  const ran = previous.report !== undefined && current.report.cases.length > 0 && current.report.problem === undefined;
  const removedCases = ran ? before.filter((testCase) => !afterById.has(caseId(testCase))).map(caseId) : [];
  const newlySkipped = before
    .filter((testCase) => testCase.status !== 'skipped' && afterById.get(caseId(testCase))?.status === 'skipped')
    .map(caseId);
  const skipMarkersAdded = Math.max(0, markers(current.files) - markers(previous.files));
  // Only against an iteration that had files: the first one has nothing to weaken.
  const compared = previous.files.length > 0;
  const assertionsRemoved = compared ? Math.max(0, assertions(previous.files) - assertions(current.files)) : 0;
  const previousContent = new Map(previous.files.map((file) => [file.path, file.content]));
  const testConfigChanged = compared
    ? current.files.filter((file) => TEST_CONFIG.test(file.path) && previousContent.get(file.path) !== file.content).map((file) => file.path)
    : [];
  const fewer = ran && after.length < before.length;
  if (
    removedTestFiles.length === 0 &&
    removedCases.length === 0 &&
    newlySkipped.length === 0 &&
    skipMarkersAdded === 0 &&
    assertionsRemoved === 0 &&
    testConfigChanged.length === 0 &&
    !fewer
  ) {
    return undefined;
  }
  return {
    removedTestFiles: removedTestFiles.slice(0, MAX_NAMES),
    removedCases: removedCases.slice(0, MAX_NAMES),
    removedCaseCount: removedCases.length,
    newlySkipped: newlySkipped.slice(0, MAX_NAMES),
    skipMarkersAdded,
    assertionsRemoved,
    testConfigChanged: testConfigChanged.slice(0, MAX_NAMES),
    cases: after.length,
    previousCases: before.length,
  };
}

/** One line for the warning event. */
export function describeWeakening(iteration: number, integrity: TestIntegrity): string {
  const parts: string[] = [];
  if (integrity.removedTestFiles.length > 0) parts.push(`removed test file(s) ${integrity.removedTestFiles.join(', ')}`);
  if (integrity.removedCaseCount > 0) parts.push(`${integrity.removedCaseCount} test case(s) no longer exist`);
  if (integrity.newlySkipped.length > 0) parts.push(`${integrity.newlySkipped.length} case(s) now skipped`);
  if (integrity.skipMarkersAdded > 0) parts.push(`${integrity.skipMarkersAdded} skip/xfail marker(s) added`);
  if (integrity.assertionsRemoved > 0) parts.push(`${integrity.assertionsRemoved} assertion(s) fewer`);
  if (integrity.testConfigChanged.length > 0) parts.push(`test configuration changed: ${integrity.testConfigChanged.join(', ')}`);
  if (integrity.cases < integrity.previousCases) parts.push(`${integrity.cases} case(s) ran, ${integrity.previousCases} before`);
  return `iteration ${iteration}: the model weakened its own tests: ${parts.join('; ')}`;
}
