/**
 * bench:candidates — what parallel first attempts (`plan.candidates`) buy in time to green, and
 * what they cost in tokens.
 *
 * A fake model: each first attempt is green with probability P_FIRST = 0.3, each refinement with
 * P_REFINE = 0.5, independently. Generation takes 300 ms ± 50 ms (uniform jitter), a test run
 * 100 ms. A first attempt uses 1,500 input + 800 output tokens, a refinement 2,500 + 800 (it
 * quotes the previous files). Up to 10 iterations; `maxConcurrent` 4, so up to four candidates
 * run at once.
 *
 * Runs go in rounds; each round starts the same number of runs for n = 1, 2 and 4 at once
 * (interleaved, so the machine's noise falls on all three alike). The outcomes come from a seeded
 * RNG keyed by (run, iteration, candidate): run i sees the same first candidate and the same
 * refinements whatever n is (common random numbers), so the ratios compare like with like.
 * Printed: time to green and tokens per run for each n, as ratios to n = 1, beside what the
 * model predicts. Goals: time to green at n = 4 ≤ 0.8 × n = 1, at n = 2 ≤ 0.95 ×.
 */
import { performance } from 'node:perf_hooks';
import { PTCAgent, type PlanInput, totalTokens } from '../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../src/testing/index.js';
import { reportResult } from './result.js';

const P_FIRST = 0.3;
const P_REFINE = 0.5;
const GENERATION_MS = 300;
const JITTER_MS = 50;
const TEST_MS = 100;
const MAX_ITERATIONS = 10;
const COUNTS = [1, 2, 4] as const;
const ROUNDS = Number(process.env.BENCH_CANDIDATES_ROUNDS ?? 8);
const RUNS_PER_ROUND = Number(process.env.BENCH_CANDIDATES_RUNS ?? 25);
const SEED = Number(process.env.BENCH_CANDIDATES_SEED ?? 20_261_129);

/** A number in [0, 1) from a 32-bit hash of the key parts (mulberry32 over an FNV-1a mix): reproducible per key. */
function random(...parts: number[]): number {
  let hash = 2_166_136_261;
  for (const part of parts) {
    hash ^= part;
    hash = Math.imul(hash, 16_777_619);
  }
  let t = (hash + 0x6d2b79f5) | 0;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
}

const GREEN = 0;
const LATENCY = 1;

function generatorFor(run: number): ScriptedCodeGenerator {
  return new ScriptedCodeGenerator((request) => {
    const candidate = request.candidate?.index ?? 1;
    const first = request.iteration === 1;
    const green = random(SEED, run, request.iteration, candidate, GREEN) < (first ? P_FIRST : P_REFINE);
    const delayMs = GENERATION_MS + (random(SEED, run, request.iteration, candidate, LATENCY) * 2 - 1) * JITTER_MS;
    return {
      delayMs,
      usage: { inputTokens: first ? 1_500 : 2_500, outputTokens: 800, apiCalls: 1, costUsd: 0 },
      files: [
        { path: 'solution.py', content: `GREEN = ${green ? 'True' : 'False'}  # run ${run}, iteration ${request.iteration}, candidate ${candidate}\n` },
        { path: 'tests/test_solution.py', content: 'from solution import GREEN\n\ndef test_green():\n    assert GREEN\n', kind: 'test' },
      ],
    };
  });
}

interface Sample {
  green: boolean;
  /** Wall time of the run: to green when it went green. */
  ms: number;
  tokens: number;
  iterations: number;
}

async function measure(run: number, candidates: number): Promise<Sample> {
  const runner = new FakeSandboxRunner({
    runLatencyMs: TEST_MS,
    retainSessions: false,
    results: ({ files }) => (files.get('solution.py')?.startsWith('GREEN = True') ? { passed: ['test_green'] } : { failed: ['test_green'] }),
  });
  const agent = new PTCAgent({ generator: generatorFor(run), runner, maxConcurrent: 4, cache: false });
  const plan: PlanInput = { taskDescription: `bench run ${run}`, candidates, maxIterations: MAX_ITERATIONS, cacheStrategy: 'never' };
  const started = performance.now();
  const bundle = await agent.execute(plan);
  const ms = performance.now() - started;
  if (runner.openSessions !== 0) throw new Error(`run ${run} (n = ${candidates}) left ${runner.openSessions} sandbox(es) open`);
  await agent.close();
  return { green: bundle.status === 'success', ms, tokens: totalTokens(bundle.usage), iterations: bundle.iterations.length };
}

/** What the model predicts: iterations until green (capped), so time ≈ iterations × (generation + tests). */
function predicted(candidates: number): { firstGreen: number; iterations: number; calls: number } {
  const firstGreen = 1 - (1 - P_FIRST) ** candidates;
  let iterations = 1;
  let calls = candidates;
  let stillRed = 1 - firstGreen;
  for (let iteration = 2; iteration <= MAX_ITERATIONS; iteration += 1) {
    iterations += stillRed;
    calls += stillRed;
    stillRed *= 1 - P_REFINE;
  }
  return { firstGreen, iterations, calls };
}

const samples = new Map<number, Sample[]>(COUNTS.map((count) => [count, []]));
const started = performance.now();
for (let round = 0; round < ROUNDS; round += 1) {
  const work: Array<Promise<void>> = [];
  for (let index = 0; index < RUNS_PER_ROUND; index += 1) {
    const run = round * RUNS_PER_ROUND + index;
    for (const count of COUNTS) work.push(measure(run, count).then((sample) => void samples.get(count)!.push(sample)));
  }
  await Promise.all(work);
}
const totalS = (performance.now() - started) / 1000;

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)]!;
};

console.log(
  `fake model: first attempt green p = ${P_FIRST}, refinement green ${P_REFINE}; generation ${GENERATION_MS} ± ${JITTER_MS} ms, tests ${TEST_MS} ms; ` +
    `${ROUNDS} rounds × ${RUNS_PER_ROUND} runs per n, interleaved; seed ${SEED}; ${totalS.toFixed(1)} s`,
);
const base = samples.get(1)!;
const baseTime = mean(base.filter((sample) => sample.green).map((sample) => sample.ms));
const baseTokens = mean(base.map((sample) => sample.tokens));
const basePredicted = predicted(1);
console.log('n  green  green@1 (model)  time to green: mean  p50     ratio (model)   tokens/run  ratio (model)');
for (const count of COUNTS) {
  const all = samples.get(count)!;
  const green = all.filter((sample) => sample.green);
  const time = mean(green.map((sample) => sample.ms));
  const tokens = mean(all.map((sample) => sample.tokens));
  const firstGreen = all.filter((sample) => sample.green && sample.iterations === 1).length / all.length;
  const model = predicted(count);
  // Tokens per call: 2,300 for a first attempt, 3,300 for a refinement.
  const modelTokens = count * 2_300 + (model.calls - count) * 3_300;
  const baseModelTokens = 2_300 + (basePredicted.calls - 1) * 3_300;
  console.log(
    `${String(count).padEnd(3)}${`${((green.length / all.length) * 100).toFixed(0)}%`.padEnd(7)}${`${firstGreen.toFixed(2)} (${model.firstGreen.toFixed(2)})`.padEnd(18)}` +
      `${`${time.toFixed(0)} ms`.padEnd(21)}${`${median(green.map((sample) => sample.ms)).toFixed(0)} ms`.padEnd(8)}` +
      `${`${(time / baseTime).toFixed(3)} (${(model.iterations / basePredicted.iterations).toFixed(3)})`.padEnd(16)}` +
      `${tokens.toFixed(0).padEnd(12)}${(tokens / baseTokens).toFixed(3)} (${(modelTokens / baseModelTokens).toFixed(3)})`,
  );
  if (count === 1) continue;
  const goal = count === 4 ? '<= 0.8' : '<= 0.95';
  reportResult({ name: `candidates: time to green n=${count} / n=1`, value: time / baseTime, unit: 'x', goal });
  reportResult({ name: `candidates: tokens n=${count} / n=1`, value: tokens / baseTokens, unit: 'x' });
}
console.log('model: time ∝ expected iterations (each ≈ one generation + one test run); ratios in parentheses. Time to green is over the runs that went green.');
