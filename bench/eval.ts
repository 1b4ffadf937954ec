/**
 * The eval harness's price and the agent's speed on HumanEval, measured in one run. Two parts:
 *
 * A. The agent against a plain loop (issue 16): the 164 reference problems through ONE PTCAgent
 *    (`maxConcurrent` = the concurrency) on the default local runner (bubblewrap where it works;
 *    hermetic, warm pytest runs) — against a plain loop with the same concurrency that, per
 *    problem, writes the same generated files to a new temp directory and runs bare
 *    `python3 -B -m pytest` there, as the host runs it (whatever `python3` is on PATH, the host's
 *    auto-loaded plugins). Figure: the loop's wall time / the agent's (goal >= 2). Printed beside
 *    it, the same loop made hermetic (the real interpreter, plugin autoloading off: what the
 *    runner itself starts), so the reader sees how much of the gap is the host's plugins and shim.
 *    The three sides run in blocks of problems, in rotating order, so load hits them alike.
 *
 * B. The harness's price (the eval issue): each problem through the agent followed by its
 *    held-out run in a fresh session — against a plain hand loop doing the same work with bare
 *    `python3 -m pytest`: the generated files in a new temp directory and one pytest run, then the
 *    solution plus the held-out test in another new directory and one pytest run on that file.
 *    Figures:
 *     1. wall-time ratio: the harness's time over all problems / the hand loop's (goal <= 1.5);
 *     2. per-problem test latency p50: the two test commands of a problem (own tests + held-out)
 *        as each side measures them, harness / bare (goal <= 1.3, the local runner's own bwrap goal).
 *    The two sides alternate problem by problem (harness first on even problems, bare first on odd
 *    ones). Both sides disable pytest's plugin autoloading (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1): a
 *    third-party plugin's import time is the same on both and would only dilute the ratio.
 *
 *   npm run bench:eval [-- <problems> [<concurrency, default 2>]]
 */
import { execFileSync, spawn } from 'node:child_process';
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
const concurrency = Number(process.argv[3] ?? 2);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error('usage: npm run bench:eval -- [<problems>] [<concurrency>]');
  process.exit(2);
}
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

// ---- A. the agent against a plain loop, same concurrency -------------------------------------

const fastAgent = new PTCAgent({ generator, runner, cache: false, maxConcurrent: concurrency });
const realPython = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
const HERMETIC_ENV = { ...process.env, PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1' };

/** The generated files of a problem, as the agent's generator writes them. */
async function generatedFiles(problem: EvalProblem) {
  const plan = parsePlan(problemToPlan(problem, { mode: 'held-out', maxIterations: 1 }));
  const request = { executionId: plan.executionId, iteration: 1, plan, testPreset: preset, previousFiles: [], failures: [], protectedPaths: [] } as GenerationRequest;
  return (await generator.generate(request, { signal, onProgress: () => {} })).files;
}

/** One problem the plain way: its files in a new directory, one bare pytest run, the directory gone. */
async function plainLoopProblem(problem: EvalProblem, python: string, env: NodeJS.ProcessEnv): Promise<void> {
  const files = await generatedFiles(problem);
  const directory = await mkdtemp(join(tmpdir(), 'ptc-bench-eval-loop-'));
  try {
    await writeAll(directory, files);
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(python, PYTHON_PYTEST.command.slice(1), { cwd: directory, stdio: 'ignore', env });
      child.on('error', reject);
      child.on('exit', resolve);
    });
    if (code !== 0) throw new Error(`${problem.id}: bare pytest exited ${code}`);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

/** `work` over `items`, `concurrency` at a time; the wall time in ms. */
async function pool<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
  return performance.now() - started;
}

/** One block of problems through the agent, all submitted at once (it runs `concurrency` of them at a time). */
async function agentBlock(block: readonly EvalProblem[]): Promise<number> {
  const started = performance.now();
  await Promise.all(
    block.map(async (problem) => {
      const bundle = await fastAgent.execute(parsePlan(problemToPlan(problem, { mode: 'held-out', maxIterations: 1 })));
      if (bundle.status !== 'success') throw new Error(`${problem.id}: the agent ended ${bundle.status}: ${bundle.error?.message}`);
    }),
  );
  return performance.now() - started;
}

const sides = {
  agent: { ms: 0, run: (block: readonly EvalProblem[]) => agentBlock(block) },
  loop: { ms: 0, run: (block: readonly EvalProblem[]) => pool(block, (problem) => plainLoopProblem(problem, PYTHON_PYTEST.command[0]!, process.env)) },
  hermetic: { ms: 0, run: (block: readonly EvalProblem[]) => pool(block, (problem) => plainLoopProblem(problem, realPython, HERMETIC_ENV)) },
};
// Warm-up (cold caches, the first bwrap start), not counted.
for (const side of Object.values(sides)) await side.run(problems.slice(0, concurrency));
const BLOCK = Math.max(concurrency * 4, 8);
const order = Object.values(sides);
for (let start = 0, round = 0; start < problems.length; start += BLOCK, round += 1) {
  const block = problems.slice(start, start + BLOCK);
  for (const side of [...order.slice(round % order.length), ...order.slice(0, round % order.length)]) side.ms += await side.run(block);
  if (process.stdout.isTTY) process.stdout.write(`\r\x1b[KA: ${Math.min(start + BLOCK, problems.length)}/${problems.length}`);
}
if (process.stdout.isTTY) process.stdout.write('\r\x1b[K');
await fastAgent.close();
const speedup = sides.loop.ms / sides.agent.ms;
const fairSpeedup = sides.hermetic.ms / sides.agent.ms;
console.log(`A. ${problems.length} HumanEval reference problems, concurrency ${concurrency}, one agent on the local runner (isolation ${isolation}, warm runs) vs a plain bare-pytest loop`);
console.log(`agent total:                           ${(sides.agent.ms / 1000).toFixed(1)} s`);
console.log(`plain loop, bare pytest as the host runs it: ${(sides.loop.ms / 1000).toFixed(1)} s`);
console.log(`plain loop, hermetic bare pytest (${realPython}, autoload off): ${(sides.hermetic.ms / 1000).toFixed(1)} s`);
console.log(`RATIO plain loop / agent (agent speed-up):     ${speedup.toFixed(2)}  (goal >= 2)`);
console.log(`RATIO hermetic plain loop / agent (fair one):  ${fairSpeedup.toFixed(2)}  (goal >= 2)`);
reportResult({ name: `eval A: ${problems.length} reference problems, plain pytest loop / agent (${isolation}), concurrency ${concurrency}`, value: speedup, unit: 'x', goal: '>= 2' });
reportResult({ name: `eval A: hermetic plain pytest loop / agent (${isolation}), concurrency ${concurrency}`, value: fairSpeedup, unit: 'x', goal: '>= 2' });

// ---- B. the harness's price ------------------------------------------------------------------

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
console.log(`B. ${problems.length} HumanEval problems, reference generator, one agent, local runner with isolation ${isolation}, interleaved with a bare pytest loop`);
console.log(`harness total:                       ${(sum(harnessRuns) / 1000).toFixed(1)} s (per problem p50 ${median(harnessRuns.map((run) => run.ms)).toFixed(0)} ms)`);
console.log(`bare loop total:                     ${(sum(bareRuns) / 1000).toFixed(1)} s (per problem p50 ${median(bareRuns.map((run) => run.ms)).toFixed(0)} ms)`);
console.log(`RATIO wall time harness / bare:      ${wallRatio.toFixed(3)}  (goal <= 1.5)`);
console.log(`test latency p50 (own + held-out):   harness ${harnessP50.toFixed(0)} ms, bare ${bareP50.toFixed(0)} ms`);
console.log(`RATIO test latency p50 harness/bare: ${latencyRatio.toFixed(3)}  (goal <= 1.3)`);
reportResult({ name: `eval: ${problems.length} reference problems, wall time harness (${isolation}) / bare pytest`, value: wallRatio, unit: 'x', goal: '<= 1.5' });
reportResult({ name: `eval: per-problem test latency p50, harness (${isolation}) / bare`, value: latencyRatio, unit: 'x', goal: '<= 1.3' });
