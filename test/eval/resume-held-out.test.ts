import { describe, expect, test } from 'vitest';
import { PTCAgent, parsePlan, PYTHON_PYTEST, type ArtifactBundle } from '../../src/index.js';
import { FakeSandboxRunner, junitXml } from '../../src/testing/index.js';
import {
  EvalReportSchema,
  EvalResumeError,
  OfflineCodeGenerator,
  parseSuite,
  problemToPlan,
  readReport,
  runEval,
  runHeldOutTest,
  writeReport,
  type EvalReport,
  type Suite,
} from '../../src/eval/index.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function smallSuite(count: number): Suite {
  const lines = Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      id: `demo/${index}`,
      prompt: `Write f${index}() returning ${index}.`,
      language: 'python',
      entryPoint: `f${index}`,
      test: `from solution import f${index}\n\n\ndef test_value():\n    assert f${index}() == ${index}\n`,
      reference: `def f${index}():\n    return ${index}\n`,
    }),
  );
  return parseSuite(lines.join('\n'), 'demo.jsonl');
}

/** Held-out runs (the ones whose workspace has test_solution.py) pass with a case of that file. */
const passingRunner = () =>
  new FakeSandboxRunner({
    results: ({ files }) => (files.has('test_solution.py') ? { report: junitXml([{ name: 'test_value', suite: 'test_solution' }]) } : { passed: ['test_own'] }),
  });

describe('resume', () => {
  test('problems already in the report are skipped; the rest run, and the report ends complete and in suite order', async () => {
    const suite = smallSuite(5);
    const runner = passingRunner();
    const snapshots: EvalReport[] = [];
    const first = await runEval({ suite, generator: new OfflineCodeGenerator('reference', suite.problems), runner, selection: { limit: 3 }, onReport: (report) => void snapshots.push(report) });
    expect(first.rows.map((row) => row.id)).toEqual(['demo/0', 'demo/1', 'demo/2']);
    expect(first.complete).toBe(true);
    // One report per finished problem, then the final one; each one valid.
    expect(snapshots).toHaveLength(4);
    expect(snapshots.map((report) => report.rows.length)).toEqual([1, 2, 3, 3]);
    for (const snapshot of snapshots) EvalReportSchema.parse(snapshot);

    const generator = new OfflineCodeGenerator('reference', suite.problems);
    const second = await runEval({ suite, generator, runner, concurrency: 3, resume: first });
    expect([...generator.calls.keys()].sort()).toEqual(['demo/3', 'demo/4']);
    expect(second.rows.map((row) => row.id)).toEqual(['demo/0', 'demo/1', 'demo/2', 'demo/3', 'demo/4']);
    expect(second.summary).toMatchObject({ selected: 5, evaluated: 5, heldOutPassed: 5, notRun: 0 });
    expect(second.startedAt).toBe(first.startedAt);
    expect(second.summary.wallMs).toBeGreaterThan(first.summary.wallMs);
    expect(runner.openSessions).toBe(0);
  });

  test('a row whose harness failed is run again', async () => {
    const suite = smallSuite(3);
    const runner = passingRunner();
    const first = await runEval({ suite, generator: new OfflineCodeGenerator('reference', suite.problems), runner });
    const damaged: EvalReport = { ...first, rows: first.rows.map((row, index) => (index === 1 ? { ...row, heldOutPassed: false, error: 'the held-out run failed: boom' } : row)) };
    const generator = new OfflineCodeGenerator('reference', suite.problems);
    const second = await runEval({ suite, generator, runner, resume: damaged });
    expect([...generator.calls.keys()]).toEqual(['demo/1']);
    expect(second.rows.every((row) => row.error === undefined && row.heldOutPassed)).toBe(true);
  });

  test('a report of another eval is refused, naming what differs', async () => {
    const suite = smallSuite(2);
    const first = await runEval({ suite, generator: new OfflineCodeGenerator('reference', suite.problems), runner: passingRunner() });
    const attempt = runEval({ suite, generator: new OfflineCodeGenerator('cheat', suite.problems), runner: passingRunner(), resume: first, mode: 'acceptance' });
    await expect(attempt).rejects.toThrow(EvalResumeError);
    await expect(attempt).rejects.toThrow(/generator: "offline:reference" in the report, "offline:cheat" now; mode: "held-out" in the report, "acceptance" now/);
  });

  test('reports round-trip through disk, Markdown beside the JSON; a corrupt report is refused', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'ptc-eval-report-'));
    try {
      const suite = smallSuite(2);
      const report = await runEval({ suite, generator: new OfflineCodeGenerator('cheat', suite.problems), runner: passingRunner() });
      const paths = await writeReport(join(directory, 'nested', 'report.json'), report);
      expect(await readReport(paths.json)).toEqual(report);
      const markdown = readFileSync(paths.markdown, 'utf8');
      expect(markdown).toContain('| held-out pass@1 | 2/2 (100.0%) |');
      expect(markdown).toContain('| demo/0 | pass | green | 1 |');
      expect(await readReport(join(directory, 'missing.json'))).toBeUndefined();
      await writeReport(join(directory, 'bad.json'), { ...report, format: 2 } as unknown as EvalReport);
      await expect(readReport(join(directory, 'bad.json'))).rejects.toThrow(/is not an eval report of format 1: format/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('budgets and cancellation', () => {
  test('a spent suite budget stops new problems; the report says why and counts them as not run', async () => {
    const suite = smallSuite(4);
    // Offline generators spend nothing, so give each answer a price through a wrapper.
    const inner = new OfflineCodeGenerator('reference', suite.problems);
    const priced = {
      id: 'priced',
      generate: async (...args: Parameters<OfflineCodeGenerator['generate']>) => ({ ...(await inner.generate(...args)), usage: { inputTokens: 600, outputTokens: 400, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, apiCalls: 1, costUsd: 0.01 } }),
    };
    const report = await runEval({ suite, generator: priced, runner: passingRunner(), concurrency: 1, budget: { maxTokens: 2_000 } });
    expect(report.rows).toHaveLength(2);
    expect(report.summary).toMatchObject({ selected: 4, evaluated: 2, notRun: 2, totalTokens: 2_000, tokensPerTask: 1_000, costUsdPerTask: 0.01, costUsdPerSolvedTask: 0.01 });
    expect(report.complete).toBe(false);
    expect(report.stoppedBecause).toBe('the suite token budget (2000) was spent');
  });

  test('an aborted eval keeps what finished and leaves no session open', async () => {
    const suite = smallSuite(6);
    const controller = new AbortController();
    const runner = new FakeSandboxRunner({ runLatencyMs: 20 });
    const report = await runEval({
      suite,
      generator: new OfflineCodeGenerator('reference', suite.problems),
      runner,
      concurrency: 2,
      signal: controller.signal,
      onProgress: (progress) => {
        if (progress.done === 2) controller.abort();
      },
    });
    expect(report.rows.length).toBeGreaterThanOrEqual(2);
    expect(report.rows.length).toBeLessThan(6);
    expect(report.stoppedBecause).toBe('cancelled');
    expect(runner.openSessions).toBe(0);
  });
});

test('a problem the agent refuses (misuse, not a result) rejects the eval after the runs in flight are kept', async () => {
  const suite = smallSuite(3);
  const broken: Suite = { ...suite, problems: suite.problems.map((problem, index) => (index === 1 ? { ...problem, dependencies: ['--index-url=http://evil'] } : problem)) };
  const snapshots: EvalReport[] = [];
  const attempt = runEval({ suite: broken, generator: new OfflineCodeGenerator('reference', broken.problems), runner: passingRunner(), concurrency: 1, onReport: (report) => void snapshots.push(report) });
  await expect(attempt).rejects.toMatchObject({ code: 'PLAN_INVALID' });
  expect(snapshots.at(-1)!.rows.map((row) => row.id)).toEqual(['demo/0']);
});

describe('the held-out run', () => {
  const suite = smallSuite(1);
  const problem = suite.problems[0]!;
  const plan = parsePlan(problemToPlan(problem, { mode: 'acceptance' }));
  async function bundleFor(): Promise<ArtifactBundle> {
    const agent = new PTCAgent({ generator: new OfflineCodeGenerator('reference', [problem]), runner: new FakeSandboxRunner(), cache: false });
    return agent.execute(plan);
  }
  const base = (runner: FakeSandboxRunner, bundle: ArtifactBundle, signal = new AbortController().signal) => ({
    runner,
    plan,
    bundle,
    preset: PYTHON_PYTEST,
    testFile: { path: problem.testPath, content: '# the held-out test\n' },
    timeoutMs: 10_000,
    signal,
  });

  test('a fresh session gets the bundle\'s non-acceptance files and the held-out file, and runs only that file', async () => {
    const bundle = await bundleFor();
    expect(bundle.files.some((file) => file.acceptance && file.path === 'test_solution.py')).toBe(true);
    let seen: Map<string, string> | undefined;
    let command: readonly string[] = [];
    const runner = new FakeSandboxRunner({
      results: (context) => {
        seen = new Map(context.files);
        command = context.command;
        return { report: junitXml([{ name: 'test_value', suite: 'test_solution' }]) };
      },
    });
    const result = await runHeldOutTest(base(runner, bundle));
    expect(result).toMatchObject({ passed: true, cases: { passed: 1, failed: 0, errored: 0, skipped: 0 } });
    // The acceptance copy the model saw was replaced by the held-out file.
    expect(seen!.get('test_solution.py')).toBe('# the held-out test\n');
    expect([...seen!.keys()].filter((path) => !path.startsWith('.ptc/')).sort()).toEqual(['solution.py', 'test_solution.py', 'tests/test_own.py']);
    expect(command.at(-1)).toBe('test_solution.py');
    expect(runner.opened).toBe(1);
    expect(runner.openSessions).toBe(0);
  });

  test('red verdicts: a failing case, a skipped case, no case at all', async () => {
    const bundle = await bundleFor();
    const verdict = async (results: ConstructorParameters<typeof FakeSandboxRunner>[0]) => runHeldOutTest(base(new FakeSandboxRunner(results), bundle));
    expect(await verdict({ results: { failed: [{ name: 'test_value', message: 'assert 1 == 0' }] } })).toMatchObject({ passed: false, reason: 'assert 1 == 0' });
    expect(await verdict({ results: { passed: ['test_a'], skipped: ['test_b'] } })).toMatchObject({ passed: false, cases: { skipped: 1 } });
    expect(await verdict({ results: { exitCode: 5, report: junitXml([]) } })).toMatchObject({ passed: false });
  });

  test('the session is closed when writing, running or reading fails, and when aborted', async () => {
    const bundle = await bundleFor();
    for (const faults of [{ sync: new Error('disk full') }, { run: new Error('runner died') }, { readFile: new Error('gone') }]) {
      const runner = new FakeSandboxRunner({ faults });
      await expect(runHeldOutTest(base(runner, bundle))).rejects.toThrow(/disk full|runner died|gone/);
      expect(runner.opened).toBe(1);
      expect(runner.openSessions).toBe(0);
    }
    const controller = new AbortController();
    const hanging = new FakeSandboxRunner({ faults: { run: 'hang' } });
    const pending = runHeldOutTest(base(hanging, bundle, controller.signal));
    setTimeout(() => controller.abort(new Error('stop')), 20);
    await expect(pending).rejects.toThrow();
    expect(hanging.openSessions).toBe(0);
  });

  test('a held-out run that fails becomes a row with an error, counted as not passed', async () => {
    const suite3 = smallSuite(2);
    let call = 0;
    const runner = new FakeSandboxRunner({
      results: ({ files }) => {
        if (files.has('test_solution.py')) {
          call += 1;
          if (call === 1) throw new Error('sandbox exploded');
        }
        return { passed: ['test_ok'] };
      },
    });
    const report = await runEval({ suite: suite3, generator: new OfflineCodeGenerator('reference', suite3.problems), runner, concurrency: 1 });
    expect(report.rows[0]).toMatchObject({ heldOutPassed: false, falseGreen: false, error: expect.stringContaining('sandbox exploded') });
    expect(report.complete).toBe(false);
    expect(runner.openSessions).toBe(0);
  });
});
