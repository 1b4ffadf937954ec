/**
 * bench:overlap — is sandbox preparation really off the critical path?
 *
 * Fakes with realistic latencies: generation 300 ms, sandbox open 200 ms + dependency install
 * 300 ms, one test run 100 ms; three iterations (red, red, green). The critical path is
 * generation + tests + whatever of open + install outlasts the first generation:
 *   3 × 300 + 3 × 100 + max(0, 200 + 300 − 300) = 1,400 ms.
 * The sequential design (the old service) opened a new sandbox and installed for every test run:
 *   3 × (300 + 200 + 300 + 100) = 2,700 ms.
 * Goal: end-to-end / critical path <= 1.03.
 */
import { performance } from 'node:perf_hooks';
import { PTCAgent } from '../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../src/testing/index.js';
import { reportResult } from './result.js';

const GENERATION_MS = 300;
const OPEN_MS = 200;
const INSTALL_MS = 300;
const TEST_MS = 100;
const ITERATIONS = 3;

const files = (iteration: number) => [
  { path: 'calc.py', content: `VERSION = ${iteration}\n` },
  { path: 'tests/test_calc.py', content: 'def test_x(): pass\n', kind: 'test' as const },
];

async function measureAgent(): Promise<number> {
  const generator = new ScriptedCodeGenerator([{ files: files(1) }, { files: files(2) }, { files: files(3) }], { latencyMs: GENERATION_MS });
  const runner = new FakeSandboxRunner({
    openLatencyMs: OPEN_MS,
    installLatencyMs: INSTALL_MS,
    runLatencyMs: TEST_MS,
    results: ({ files: workspace }) => (workspace.get('calc.py')?.includes('3') ? { passed: ['test_x'] } : { failed: ['test_x'] }),
  });
  const agent = new PTCAgent({ generator, runner });
  const started = performance.now();
  const bundle = await agent.execute({ taskDescription: 'overlap', dependencies: ['requests'], maxIterations: ITERATIONS, cacheStrategy: 'never' });
  const elapsed = performance.now() - started;
  if (bundle.status !== 'success' || bundle.iterations.length !== ITERATIONS) throw new Error(`unexpected bundle: ${bundle.status}`);
  if (runner.opened !== 1) throw new Error('expected one sandbox for all iterations');
  return elapsed;
}

/** The old design, made with the same fakes: for each iteration generate, then open + install, test, close. */
async function measureSequential(): Promise<number> {
  const generator = new ScriptedCodeGenerator([{ files: files(1) }, { files: files(2) }, { files: files(3) }], { latencyMs: GENERATION_MS });
  const runner = new FakeSandboxRunner({ openLatencyMs: OPEN_MS, installLatencyMs: INSTALL_MS, runLatencyMs: TEST_MS });
  const signal = new AbortController().signal;
  const started = performance.now();
  for (let iteration = 1; iteration <= ITERATIONS; iteration += 1) {
    const output = await generator.generate({} as never, { signal, onProgress: () => {} });
    const session = await runner.open({ executionId: 'x', language: 'python', dependencies: ['requests'], env: {}, signal });
    await session.sync(output.files.map(({ path, content }) => ({ path, content })), { signal });
    await session.run(['python3', '-m', 'pytest'], { timeoutMs: 10_000, signal });
    await session.close();
  }
  return performance.now() - started;
}

const criticalPath = ITERATIONS * (GENERATION_MS + TEST_MS) + Math.max(0, OPEN_MS + INSTALL_MS - GENERATION_MS);
const agentMs = await measureAgent();
const sequentialMs = await measureSequential();
console.log(`critical path:          ${criticalPath} ms (3 × (300 generation + 100 tests) + 200 of open+install not hidden)`);
console.log(`agent end-to-end:       ${agentMs.toFixed(0)} ms`);
console.log(`sequential design:      ${sequentialMs.toFixed(0)} ms (new sandbox + install per test run)`);
console.log(`agent / critical path:  ${(agentMs / criticalPath).toFixed(3)}   (goal <= 1.03: ${agentMs / criticalPath <= 1.03 ? 'met' : 'NOT met'})`);
console.log(`agent / sequential:     ${(agentMs / sequentialMs).toFixed(3)}`);
reportResult({ name: 'overlap: end-to-end / critical path', value: agentMs / criticalPath, unit: 'x', goal: '<= 1.03' });
reportResult({ name: 'overlap: end-to-end / sequential', value: agentMs / sequentialMs, unit: 'x' });
