/**
 * bench:load — 1,000 distinct plans through one agent at maxConcurrent 100, one iteration each.
 *
 * Two latency profiles, measured in the same run:
 *  - realistic (the headline, as in bench:overlap): generation 300 ms, sandbox open 200 ms
 *    (hidden behind generation), tests 100 ms. Ideal wall time = ceil(1000 / 100) waves × 400 ms.
 *  - stress: generation 20 ms, open 10 ms, tests 10 ms (ideal 10 × 30 ms). Here the agent's own
 *    CPU per run (bench:overhead) is no longer small next to the latencies, so the ratio shows
 *    what that CPU costs when 100 runs wake up together.
 * Goals: wall / ideal <= 1.05 (realistic); heap growth after the runs and a GC <= 100 MB.
 * Run with `node --expose-gc` (the npm script does) so the memory figure is after a collection.
 */
import { performance } from 'node:perf_hooks';
import { PTCAgent } from '../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../src/testing/index.js';
import { reportResult } from './result.js';

const RUNS = 1_000;
const CONCURRENCY = 100;

const gc = (globalThis as { gc?: () => void }).gc;
const heapMb = () => {
  gc?.();
  return process.memoryUsage().heapUsed / 1_048_576;
};

async function measure(profile: { generationMs: number; openMs: number; testMs: number }) {
  const generator = new ScriptedCodeGenerator(
    { files: [{ path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' }, { path: 'tests/test_calc.py', content: 'def test_add(): pass\n', kind: 'test' }] },
    { latencyMs: profile.generationMs },
  );
  const runner = new FakeSandboxRunner({ openLatencyMs: profile.openMs, runLatencyMs: profile.testMs, retainSessions: false });
  const agent = new PTCAgent({ generator, runner, maxConcurrent: CONCURRENCY });
  // A warm-up wave so JIT and lazy initialisation are not counted.
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, index) => agent.execute({ taskDescription: `warm-up ${index}` })));
  generator.calls.length = 0;
  const before = heapMb();
  const started = performance.now();
  let bundles = await Promise.all(Array.from({ length: RUNS }, (_, index) => agent.execute({ taskDescription: `plan ${index}` })));
  const wallMs = performance.now() - started;
  const succeeded = bundles.filter((bundle) => bundle.status === 'success').length;
  generator.calls.length = 0;
  bundles = [];
  const after = heapMb();
  if (succeeded !== RUNS || runner.openSessions !== 0) throw new Error('runs did not all succeed and close');
  const idealMs = Math.ceil(RUNS / CONCURRENCY) * (profile.generationMs + profile.testMs + Math.max(0, profile.openMs - profile.generationMs));
  return { wallMs, idealMs, heapGrowthMb: after - before, stats: agent.stats() };
}

const realistic = await measure({ generationMs: 300, openMs: 200, testMs: 100 });
const stress = await measure({ generationMs: 20, openMs: 10, testMs: 10 });
console.log(`runs: ${RUNS}, maxConcurrent: ${CONCURRENCY}, all succeeded and closed their sessions`);
for (const [name, result] of [['realistic', realistic], ['stress', stress]] as const) {
  console.log(
    `${name.padEnd(10)} wall ${result.wallMs.toFixed(0)} ms, ideal ${result.idealMs} ms, wall / ideal ${(result.wallMs / result.idealMs).toFixed(3)}, ` +
      `heap growth ${result.heapGrowthMb.toFixed(1)} MB, p50/p95 run ${result.stats.p50DurationMs.toFixed(0)}/${result.stats.p95DurationMs.toFixed(0)} ms`,
  );
}
if (!gc) console.log('(no --expose-gc: heap figures include uncollected garbage)');
reportResult({ name: 'load: wall / ideal (realistic latencies)', value: realistic.wallMs / realistic.idealMs, unit: 'x', goal: '<= 1.05' });
reportResult({ name: 'load: wall / ideal (stress, 20/10/10 ms)', value: stress.wallMs / stress.idealMs, unit: 'x' });
reportResult({ name: 'load: heap growth', value: Math.max(realistic.heapGrowthMb, stress.heapGrowthMb), unit: 'MB', goal: '<= 100' });
