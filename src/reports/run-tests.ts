import type { TestCase, TestReport } from '../bundle.js';
import type { RunOptions, SandboxSession } from '../contracts/sandbox-runner.js';
import { isPTCError, PathSafetyError } from '../errors.js';
import { tail, trimMiddle } from '../internal/text.js';
import { parseJUnit } from './junit.js';
import type { TestPreset } from './presets.js';

export interface RunTestsOptions {
  timeoutMs: number;
  signal: AbortSignal;
  /** Paths of the test files, appended to the command when the preset asks for it. */
  testFiles: readonly string[];
  /**
   * Test files that must produce at least one case (the plan's acceptance tests): a report in
   * which one of them ran nothing is red, whatever else passed, so a model cannot get green by
   * configuring its framework to skip them. Checked by module name for presets that discover tests
   * themselves (pytest), and by the file-level case for presets that report files as cases (node).
   */
  requiredTestFiles?: readonly string[];
  /** Kept of stdout and of stderr in the report. @default 65536 */
  maxOutputChars?: number;
  env?: Readonly<Record<string, string>>;
  /** argv to run instead of the preset's command (the test files are still appended when the preset asks). */
  command?: readonly string[];
  /** Where `command` writes its JUnit report. @default preset.reportPath */
  reportPath?: string;
  /** Receives the command's output as it arrives, when the runner can stream it (see `RunOptions.onOutput`). */
  onOutput?: RunOptions['onOutput'];
}

/** Longest case name kept (pytest's parametrized ids can be any size). */
const MAX_CASE_NAME_CHARS = 500;
/** Cases kept per report: a generated suite of a million cases must not become a million records. */
const MAX_CASES_PER_REPORT = 2_000;

/**
 * Characters of case messages one TestReport keeps over all its cases: a flood of failures must
 * not turn every iteration record into megabytes. The first cases keep their full messages.
 */
const MAX_MESSAGE_CHARS_PER_REPORT = 200_000;

/** Shell-like rendering of argv for reports; never executed. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((part) => (/^[\w@%+=:,./-]+$/.test(part) ? part : `'${part.replaceAll("'", `'\\''`)}'`)).join(' ');
}

/**
 * Runs a preset's test command in a session and turns its JUnit report and exit code into a
 * TestReport. The exit code overrides a clean-looking report: "no tests", a crashed runner or
 * a timeout are never green.
 */
export async function runTests(session: SandboxSession, preset: TestPreset, options: RunTestsOptions): Promise<TestReport> {
  const maxOutputChars = options.maxOutputChars ?? 65_536;
  const command = options.command ?? preset.command;
  const reportPath = options.reportPath ?? preset.reportPath;
  const argv = preset.appendTestFiles ? [...command, ...options.testFiles] : [...command];
  // No report can be left over from an earlier run: the caller synced the workspace before this.
  const result = await session.run(argv, {
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    ...(options.env ? { env: options.env } : {}),
    ...(options.onOutput ? { onOutput: options.onOutput } : {}),
  });
  let xml: string | undefined;
  let unreadableReport: string | undefined;
  if (!result.timedOut) {
    try {
      xml = await session.readFile(reportPath, { signal: options.signal });
    } catch (error) {
      // The code under test can replace its report with a FIFO or a symlink, or flood it past
      // the runner's read limit; that is a red run with a reason, not a broken sandbox.
      if (!(error instanceof PathSafetyError) && !(isPTCError(error) && error.code === 'OUTPUT_REJECTED')) throw error;
      unreadableReport = error.message;
    }
  }
  const parsed = xml === undefined ? undefined : parseJUnit(xml);
  const reported = parsed
    ? preset.reportsFilesAsCases
      ? resolveFileCases(parsed.cases, options.testFiles, result.stdout, options.requiredTestFiles ?? [])
      : parsed.cases
    : [];
  const { kept: cases, dropped } = boundCases(reported);
  const output = tail(`${result.stderr}\n${result.stdout}`.trim(), 4_000);
  let problem: string | undefined;
  const rule = result.exitCode === null ? undefined : preset.exitCodes[result.exitCode];

  if (result.timedOut) {
    problem = `the test command timed out after ${options.timeoutMs} ms (an infinite loop or a hang?)`;
    cases.push({ name: 'test run', status: 'errored', message: `${problem}\n${output}`.trim() });
  } else if (rule?.outcome === 'error') {
    problem = `${preset.framework} exited with ${result.exitCode}: ${rule.meaning}`;
    if (!cases.some((testCase) => testCase.status === 'errored')) {
      cases.push({ name: 'test run', status: 'errored', message: `${problem}\n${output}`.trim() });
    }
  } else if (unreadableReport !== undefined) {
    problem = `the test report could not be read (${unreadableReport})`;
    cases.push({ name: 'test run', status: 'errored', message: `${problem}\n${output}`.trim() });
  } else if (parsed === undefined) {
    problem = `the test command wrote no report (exit code ${result.exitCode ?? 'none'})`;
    cases.push({ name: 'test run', status: 'errored', message: `${problem}\n${output}`.trim() });
  } else if (parsed.error && cases.length === 0) {
    problem = `the test report could not be read: ${parsed.error}`;
    cases.push({ name: 'test run', status: 'errored', message: `${problem}\n${output}`.trim() });
  } else if (rule?.outcome === 'no_tests' || cases.length === 0) {
    problem = 'no tests were collected; tests must exist and follow the layout conventions';
  } else if (result.exitCode !== 0 && !cases.some((testCase) => testCase.status === 'failed' || testCase.status === 'errored')) {
    problem = `${preset.framework} exited with ${result.exitCode} although no test failed`;
    cases.push({ name: 'test run', status: 'errored', message: `${problem}\n${output}`.trim() });
  }

  if (problem === undefined && options.requiredTestFiles && !preset.appendTestFiles) {
    const missing = options.requiredTestFiles.filter((path) => !cases.some((testCase) => caseBelongsTo(testCase, path)));
    if (missing.length > 0) {
      problem = `the acceptance test file(s) ${missing.join(', ')} ran no test: they must be collected and run, not skipped or deselected`;
      for (const path of missing) cases.push({ name: path, file: path, status: 'errored', message: problem });
    }
  }

  let passed = dropped.passed;
  let failed = dropped.failed;
  let skipped = dropped.skipped;
  let errored = dropped.errored;
  for (const testCase of cases) {
    if (testCase.status === 'passed') passed += 1;
    else if (testCase.status === 'failed') failed += 1;
    else if (testCase.status === 'skipped') skipped += 1;
    else errored += 1;
  }
  let messageBudget = MAX_MESSAGE_CHARS_PER_REPORT;
  const boundedCases = cases.map((testCase) => {
    if (testCase.message === undefined) return testCase;
    const kept = testCase.message.length <= messageBudget ? testCase.message : `${testCase.message.slice(0, messageBudget)}…`;
    messageBudget = Math.max(0, messageBudget - testCase.message.length);
    return kept === testCase.message ? testCase : { ...testCase, message: kept };
  });
  const stdout = trimMiddle(result.stdout, maxOutputChars);
  const stderr = trimMiddle(result.stderr, maxOutputChars);
  const report: TestReport = {
    command: formatCommand(argv),
    exitCode: result.exitCode,
    passed,
    failed,
    skipped,
    errored,
    cases: boundedCases,
    success: problem === undefined && result.exitCode === 0 && failed === 0 && errored === 0 && passed > 0,
    stdout: stdout.text,
    stderr: stderr.text,
    stdoutTruncated: result.stdoutTruncated || stdout.truncated,
    stderrTruncated: result.stderrTruncated || stderr.truncated,
    timedOut: result.timedOut,
    durationMs: result.durationMs,
  };
  if (problem !== undefined) report.problem = trimMiddle(problem, 2_000).text;
  return report;
}

/**
 * Keeps at most MAX_CASES_PER_REPORT cases, failures first, each name bounded; counts what it
 * dropped by status so the report's totals stay true.
 */
function boundCases(cases: readonly TestCase[]): { kept: TestCase[]; dropped: Record<TestCase['status'], number> } {
  const dropped = { passed: 0, failed: 0, skipped: 0, errored: 0 };
  let kept = cases;
  if (cases.length > MAX_CASES_PER_REPORT) {
    const ordered = [...cases].sort((a, b) => rank(a) - rank(b));
    kept = ordered.slice(0, MAX_CASES_PER_REPORT);
    for (const testCase of ordered.slice(MAX_CASES_PER_REPORT)) dropped[testCase.status] += 1;
  }
  const bound = (text: string) => trimMiddle(text, MAX_CASE_NAME_CHARS).text;
  return {
    kept: kept.map((testCase) => {
      if (testCase.name.length <= MAX_CASE_NAME_CHARS && (testCase.suite?.length ?? 0) <= MAX_CASE_NAME_CHARS && (testCase.file?.length ?? 0) <= MAX_CASE_NAME_CHARS) return testCase;
      const bounded: TestCase = { ...testCase, name: bound(testCase.name) };
      if (testCase.suite !== undefined) bounded.suite = bound(testCase.suite);
      if (testCase.file !== undefined) bounded.file = bound(testCase.file);
      return bounded;
    }),
    dropped,
  };
}

const rank = (testCase: TestCase) => (testCase.status === 'errored' ? 0 : testCase.status === 'failed' ? 1 : testCase.status === 'skipped' ? 2 : 3);

/**
 * node:test names a file that failed to load (syntax or import error) or registered no test
 * after the file's absolute path. Such a case is not a test: a passing one is dropped (so a suite
 * of empty files counts as "no tests"), a failing one becomes an errored case with the load
 * error, which only the spec reporter's stdout carries.
 */
function resolveFileCases(cases: readonly TestCase[], testFiles: readonly string[], stdout: string, required: readonly string[]): TestCase[] {
  const result: TestCase[] = [];
  for (const testCase of cases) {
    const file = testFiles.find((path) => testCase.name === path || testCase.name.endsWith(`/${path}`));
    if (file === undefined) {
      result.push(testCase);
      continue;
    }
    if (testCase.status === 'passed' || testCase.status === 'skipped') {
      // A required file (an acceptance test) that registered no test, e.g. because the code it
      // imports exited the process first, is red: node's JUnit names no files, so this file-level
      // case is the only sign that it ran nothing.
      if (required.includes(file)) {
        result.push({ name: file, file, status: 'errored', message: `${file} ran no test: it must register tests and run them, not exit or skip before them` });
      }
      continue;
    }
    const excerpt = loadErrorExcerpt(stdout, testCase.name);
    result.push({
      ...testCase,
      name: file,
      file,
      status: 'errored',
      message: `${file} could not be loaded (a syntax error, a failed import or an error at the top level):\n${excerpt || testCase.message || 'no details were printed'}`,
    });
  }
  return result;
}

const SPEC_MARKER = /^[✔✖▶ℹ﹣] /;

/** The unindented text the spec reporter printed between the previous case's block and `✖ <file>`. */
function loadErrorExcerpt(stdout: string, name: string): string {
  const lines = stdout.split('\n');
  const end = lines.findIndex((line) => line.startsWith(`✖ ${name}`));
  if (end === -1) return '';
  let start = end - 1;
  while (start >= 0 && !SPEC_MARKER.test(lines[start]!)) start -= 1;
  start += 1;
  // Skip the previous case's own indented block (its assertion message and stack).
  if (start > 0) while (start < end && (lines[start]!.startsWith('  ') || lines[start]!.trim() === '')) start += 1;
  const excerpt = lines.slice(start, end).join('\n').trim();
  return excerpt.length > 3_000 ? `${excerpt.slice(0, 3_000)}…` : excerpt;
}

/**
 * Whether a reported case comes from a test file: by its file attribute, or by the dotted module
 * name pytest puts in the class name (`tests.test_calc`, `tests.test_calc.TestAdd`), or by a
 * collection error named after the module.
 */
export function caseBelongsTo(testCase: TestCase, path: string): boolean {
  const file = testCase.file?.replace(/^\.\//, '');
  if (file !== undefined && (file === path || file.endsWith(`/${path}`))) return true;
  const module = path.replace(/\.[^./]+$/, '').replaceAll('/', '.');
  const owner = (name: string | undefined) => name !== undefined && (name === module || name.startsWith(`${module}.`) || name.startsWith(`${module}::`));
  return owner(testCase.suite) || owner(testCase.name);
}

/** The failing and errored cases of a report, errored first: what the next iteration must fix. */
export function failingCases(report: TestReport) {
  return report.cases
    .filter((testCase) => testCase.status === 'failed' || testCase.status === 'errored')
    .sort((a, b) => (a.status === b.status ? 0 : a.status === 'errored' ? -1 : 1));
}
