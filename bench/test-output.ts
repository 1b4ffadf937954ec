/**
 * Live test output (`tests:output`), measured in one run with the local runner and real pytest
 * on a suite of 5 tests that take 200 ms each:
 *  1. when the first output event arrives, as a fraction of the test command's time (tests:start →
 *     tests:end): how early a user sees something (goal <= 0.5);
 *  2. the test command's time with a `tests:output` listener / without one, interleaved round by
 *     round and taken as medians: what streaming costs (goal <= 1.05).
 *
 *   npx tsx bench/test-output.ts [rounds]
 */
import { performance } from 'node:perf_hooks';
import { PTCAgent } from '../src/index.js';
import { LocalSandboxRunner } from '../src/runners/local.js';
import { ScriptedCodeGenerator } from '../src/testing/index.js';
import { reportResult } from './result.js';

const rounds = Number(process.argv[2] ?? 8);
const suite = ['import time', '', ...Array.from({ length: 5 }, (_, index) => `def test_${index}():\n    time.sleep(0.2)\n`)].join('\n');
const generator = new ScriptedCodeGenerator({ files: [{ path: 'tests/test_slow.py', content: suite, kind: 'test' }] }, { retainCalls: false });
const runner = new LocalSandboxRunner({ onWarning: () => {} });
const plan = { taskDescription: 'slow suite', requirements: [], language: 'python' as const, maxIterations: 1, cacheStrategy: 'never' as const };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** One run: the test command's time, and when the first output event came (with a listener). */
async function once(listen: boolean): Promise<{ testsMs: number; firstOutputMs: number | undefined; events: number }> {
  const agent = new PTCAgent({ generator, runner, cache: false });
  let started = 0;
  let ended = 0;
  let first: number | undefined;
  let events = 0;
  agent.on('tests:start', () => (started = performance.now()));
  agent.on('tests:end', () => (ended = performance.now()));
  if (listen) {
    agent.on('tests:output', () => {
      events += 1;
      first ??= performance.now();
    });
  }
  const bundle = await agent.execute(plan);
  await agent.close();
  if (bundle.status !== 'success') throw new Error(`the bench run ended ${bundle.status}: ${bundle.error?.message ?? ''}`);
  return { testsMs: ended - started, firstOutputMs: first === undefined ? undefined : first - started, events };
}

await once(true); // warm-up: the toolchain preflight, Python's caches
const withListener: number[] = [];
const without: number[] = [];
const firstFraction: number[] = [];
const eventCounts: number[] = [];
for (let round = 0; round < rounds; round += 1) {
  // Alternating which goes first, so neither always follows the other.
  const order = round % 2 === 0 ? [true, false] : [false, true];
  for (const listen of order) {
    const result = await once(listen);
    if (listen) {
      withListener.push(result.testsMs);
      if (result.firstOutputMs !== undefined) firstFraction.push(result.firstOutputMs / result.testsMs);
      eventCounts.push(result.events);
    } else {
      without.push(result.testsMs);
    }
  }
}
const fraction = median(firstFraction);
const overhead = median(withListener) / median(without);
console.log(`rounds: ${rounds}; test command median ${median(withListener).toFixed(0)} ms with a listener, ${median(without).toFixed(0)} ms without; ${median(eventCounts)} tests:output events per run (median)`);
console.log(`first tests:output after ${(fraction * 100).toFixed(0)}% of the test command (goal <= 50%)`);
console.log(`test command with / without a listener: ${overhead.toFixed(3)} (goal <= 1.05)`);
reportResult({ name: 'test output: first event / test command time', value: fraction, unit: 'x', goal: '<= 0.5' });
reportResult({ name: 'test output: test command with / without a listener', value: overhead, unit: 'x', goal: '<= 1.05' });
