/**
 * The eval harness's price, measured in one run: the 164 HumanEval problems with the `reference`
 * generator through ONE PTCAgent on the local runner (bubblewrap where it works), each followed by
 * its held-out run in a fresh session — against a plain hand loop doing the same work with bare
 * `python3 -m pytest`: per problem, the generated files in a new temp directory and one pytest
 * run, then the solution plus the held-out test in another new directory and one pytest run on
 * that file.
 *
 * Figures:
 *  1. wall-time ratio: the harness's time over all problems / the hand loop's (goal <= 1.5);
 *  2. per-problem test latency p50: the two test commands of a problem (own tests + held-out)
 *     as each side measures them, harness / bare (goal <= 1.3, the local runner's own bwrap goal).
 *
 * The two sides alternate problem by problem (harness first on even problems, bare first on odd
 * ones), so load from other processes on the machine hits both alike. Both sides disable pytest's
 * plugin autoloading (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1): a third-party plugin's import time is the
 * same on both and would only dilute the ratio.
 *
 *   npm run bench:eval [-- <problems>]
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalSandboxRunner, PTCAgent, parsePlan, PYTHON_PYTEST, type GenerationRequest } from '../src/index.js';
import { loadSuite, OfflineCodeGenerator, problemToPlan, runHeldOutTest, type EvalProblem } from '../src/eval/index.js';
import { reportResult } from './result.js';

const HUMANEVAL = fileURLToPath(new URL('../../shared/data/humaneval/HumanEval.jsonl.gz', import.meta.url));
const ENV = { PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1' };
const signal = new AbortController().signal;

if (!existsSync(HUMANEVAL)) {
  console.error(`bench:eval needs HumanEval at ${HUMANEVAL}`);
  process.exit(1);
}
const suite = await loadSuite(HUMANEVAL);
const count = Math.min(suite.problems.length, Number(process.argv[2] ?? suite.problems.length));
const problems = suite.problems.slice(0, count);
const generator = new OfflineCodeGenerator('reference', problems);
const runner = new LocalSandboxRunner({ onWarning: () => {} });
const isolation = await runner.effectiveIsolation();
const agent = new PTCAgent({ generator, runner, cache: false, maxConcurrent: 1, sandboxEnv: ENV });
const preset = agent.testPresetFor('python');

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function pytest(directory: string, extra: readonly string[]): Promise<{ ms: number; code: number | null }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON_PYTEST.command[0]!, [...PYTHON_PYTEST.command.slice(1), ...extra], {
      cwd: directory,
      stdio: 'ignore',
      env: { PATH: process.env.PATH ?? '', HOME: directory, LANG: 'C.UTF-8', ...ENV },
    });
    child.on('error', reject);
    child.on('exit', (code) => resolve({ ms: performance.now() - started, code }));
  });
}

async function writeAll(directory: string, files: ReadonlyArray<{ path: string; content: string }>): Promise<void> {
  for (const file of files) {
    await mkdir(dirname(join(directory, file.path)), { recursive: true });
    await writeFile(join(directory, file.path), file.content);
  }
}

/** The harness: one agent run, then the held-out run in a fresh session. */
async function harness(problem: EvalProblem): Promise<{ ms: number; testMs: number }> {
  const started = performance.now();
  const plan = parsePlan(problemToPlan(problem, { mode: 'held-out', maxIterations: 1 }));
  const bundle = await agent.execute(plan);
  if (bundle.status !== 'success') throw new Error(`${problem.id}: the agent ended ${bundle.status}: ${bundle.error?.message}`);
  const heldOut = await runHeldOutTest({ runner, plan, bundle, preset, testFile: { path: problem.testPath, content: problem.test }, timeoutMs: 120_000, signal, env: ENV });
  if (!heldOut.passed) throw new Error(`${problem.id}: held-out red through the harness: ${heldOut.reason}`);
  return { ms: performance.now() - started, testMs: bundle.testReport!.durationMs + heldOut.report.durationMs };
}

/** The hand loop: the same files, the same two pytest runs, nothing else. */
async function bare(problem: EvalProblem): Promise<{ ms: number; testMs: number }> {
  const started = performance.now();
  const plan = parsePlan(problemToPlan(problem, { mode: 'held-out', maxIterations: 1 }));
  const request = { executionId: plan.executionId, iteration: 1, plan, testPreset: preset, previousFiles: [], failures: [], protectedPaths: [] } as GenerationRequest;
  const { files } = await generator.generate(request, { signal, onProgress: () => {} });
  const own = await mkdtemp(join(tmpdir(), 'ptc-bench-eval-own-'));
  const held = await mkdtemp(join(tmpdir(), 'ptc-bench-eval-held-'));
  try {
    await writeAll(own, files);
    const first = await pytest(own, []);
    if (first.code !== 0) throw new Error(`${problem.id}: bare own tests exited ${first.code}`);
    await writeAll(held, [...files.filter((file) => file.kind !== 'test'), { path: problem.testPath, content: problem.test }]);
    const second = await pytest(held, [problem.testPath]);
    if (second.code !== 0) throw new Error(`${problem.id}: bare held-out exited ${second.code}`);
    return { ms: performance.now() - started, testMs: first.ms + second.ms };
  } finally {
    await rm(own, { recursive: true, force: true });
    await rm(held, { recursive: true, force: true });
  }
}

// Warm-up (cold caches, first bwrap start), not counted.
await harness(problems[0]!);
await bare(problems[0]!);

const harnessRuns: Array<{ ms: number; testMs: number }> = [];
const bareRuns: Array<{ ms: number; testMs: number }> = [];
for (const [index, problem] of problems.entries()) {
  if (index % 2 === 0) {
    harnessRuns.push(await harness(problem));
    bareRuns.push(await bare(problem));
  } else {
    bareRuns.push(await bare(problem));
    harnessRuns.push(await harness(problem));
  }
  if (process.stdout.isTTY) process.stdout.write(`\r\x1b[K${index + 1}/${problems.length}`);
}
if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');

const sum = (values: ReadonlyArray<{ ms: number }>) => values.reduce((total, value) => total + value.ms, 0);
const wallRatio = sum(harnessRuns) / sum(bareRuns);
const harnessP50 = median(harnessRuns.map((run) => run.testMs));
const bareP50 = median(bareRuns.map((run) => run.testMs));
const latencyRatio = harnessP50 / bareP50;
console.log(`${problems.length} HumanEval problems, reference generator, one agent, local runner with isolation ${isolation}, interleaved with a bare pytest loop`);
console.log(`harness total:                       ${(sum(harnessRuns) / 1000).toFixed(1)} s (per problem p50 ${median(harnessRuns.map((run) => run.ms)).toFixed(0)} ms)`);
console.log(`bare loop total:                     ${(sum(bareRuns) / 1000).toFixed(1)} s (per problem p50 ${median(bareRuns.map((run) => run.ms)).toFixed(0)} ms)`);
console.log(`RATIO wall time harness / bare:      ${wallRatio.toFixed(3)}  (goal <= 1.5)`);
console.log(`test latency p50 (own + held-out):   harness ${harnessP50.toFixed(0)} ms, bare ${bareP50.toFixed(0)} ms`);
console.log(`RATIO test latency p50 harness/bare: ${latencyRatio.toFixed(3)}  (goal <= 1.3)`);
reportResult({ name: `eval: ${problems.length} reference problems, wall time harness (${isolation}) / bare pytest`, value: wallRatio, unit: 'x', goal: '<= 1.5' });
reportResult({ name: `eval: per-problem test latency p50, harness (${isolation}) / bare`, value: latencyRatio, unit: 'x', goal: '<= 1.3' });
