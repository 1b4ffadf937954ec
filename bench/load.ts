/**
 * bench:load — 1,000 distinct plans through one agent at maxConcurrent 100, with fakes of fixed
 * latency (generation 20 ms, sandbox open 10 ms, tests 10 ms; one iteration each).
 * Ideal wall time = ceil(1000 / 100) waves × (20 + 10) ms critical path per run = 300 ms.
 * Goals: wall / ideal <= 1.05; heap growth after the runs (and a GC) <= 100 MB.
 * Run with `node --expose-gc` (the npm script does) so the memory figure is after a collection.
 */
import { performance } from 'node:perf_hooks';
import { PTCAgent } from '../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../src/testing/index.js';
import { reportResult } from './result.js';

const RUNS = 1_000;
const CONCURRENCY = 100;
const GENERATION_MS = 20;
const OPEN_MS = 10;
const TEST_MS = 10;

const gc = (globalThis as { gc?: () => void }).gc;
const heapMb = () => {
  gc?.();
  return process.memoryUsage().heapUsed / 1_048_576;
};

const generator = new ScriptedCodeGenerator(
  { files: [{ path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' }, { path: 'tests/test_calc.py', content: 'def test_add(): pass\n', kind: 'test' }] },
  { latencyMs: GENERATION_MS },
);
const runner = new FakeSandboxRunner({ openLatencyMs: OPEN_MS, runLatencyMs: TEST_MS });
const agent = new PTCAgent({ generator, runner, maxConcurrent: CONCURRENCY });

// Warm-up wave so JIT and lazy initialisation are not counted.
await Promise.all(Array.from({ length: CONCURRENCY }, (_, index) => agent.execute({ taskDescription: `warm-up ${index}` })));
runner.sessions.length = 0;
generator.calls.length = 0;
const before = heapMb();
const started = performance.now();
const bundles = await Promise.all(Array.from({ length: RUNS }, (_, index) => agent.execute({ taskDescription: `plan ${index}` })));
const wallMs = performance.now() - started;
// The fakes keep every session and request for inspection; drop them so only the agent's memory counts.
runner.sessions.length = 0;
runner.openSpecs.length = 0;
generator.calls.length = 0;
const retained = bundles.length;
bundles.length = 0;
const after = heapMb();

const idealMs = Math.ceil(RUNS / CONCURRENCY) * (GENERATION_MS + TEST_MS);
const stats = agent.stats();
if (retained !== RUNS || runner.openSessions !== 0) throw new Error('runs did not all settle and close');
console.log(`runs: ${RUNS}, maxConcurrent: ${CONCURRENCY}, succeeded: ${stats.succeeded - CONCURRENCY}`);
console.log(`wall time:        ${wallMs.toFixed(0)} ms; ideal ${idealMs} ms`);
console.log(`wall / ideal:     ${(wallMs / idealMs).toFixed(3)}   (goal <= 1.05: ${wallMs / idealMs <= 1.05 ? 'met' : 'NOT met'})`);
console.log(`heap growth:      ${(after - before).toFixed(1)} MB   (goal <= 100 MB: ${after - before <= 100 ? 'met' : 'NOT met'})${gc ? '' : ' (no --expose-gc: figure includes garbage)'}`);
console.log(`p50 / p95 run:    ${stats.p50DurationMs.toFixed(1)} / ${stats.p95DurationMs.toFixed(1)} ms`);
reportResult({ name: 'load: wall / ideal', value: wallMs / idealMs, unit: 'x', goal: '<= 1.05' });
reportResult({ name: 'load: heap growth', value: after - before, unit: 'MB', goal: '<= 100' });
