import { expect, test } from 'vitest';
import { PTCAgent, type ArtifactBundle } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FIXED } from '../helpers.js';

const heapMb = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 1_048_576;
};

test('1,000 plans through one agent at maxConcurrent 50: each settles exactly once, stats add up, memory returns', async () => {
  // A deterministic "random" latency per call keeps the test repeatable.
  let seed = 42;
  const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
  const generator = new ScriptedCodeGenerator(async (request) => {
    // Every 7th plan fails its first attempt; every 11th fails to generate at all.
    const index = Number(request.plan.taskDescription.split(' ')[1]);
    await new Promise((resolve) => setTimeout(resolve, random() * 4));
    if (index % 11 === 0) return { error: new Error('model unavailable') };
    return { files: index % 7 === 0 && request.iteration === 1 ? [...FIXED.slice(0, 1).map((file) => ({ ...file, content: 'broken' })), FIXED[1]!] : FIXED };
  });
  const runner = new FakeSandboxRunner({
    openLatencyMs: 1,
    runLatencyMs: 1,
    results: ({ files }) => (files.get('calc.py') === 'broken' ? { failed: ['test_add'] } : { passed: ['test_add'] }),
  });
  // No cache: a cache keeps bundles on purpose, and this test looks for anything else that does.
  const agent = new PTCAgent({ generator, runner, cache: false, maxConcurrent: 50 });
  const settled = new Map<string, number>();
  const before = heapMb();
  const runs = Array.from({ length: 1_000 }, (_, index) =>
    agent.execute({ taskDescription: `plan ${index}`, executionId: `load-${index}`, maxIterations: 2 }).then((bundle: ArtifactBundle) => {
      settled.set(bundle.executionId, (settled.get(bundle.executionId) ?? 0) + 1);
      return bundle;
    }),
  );
  expect(agent.stats().inFlight).toBe(50);
  expect(agent.stats().queued).toBe(950);
  const bundles = await Promise.all(runs);

  expect(settled.size).toBe(1_000);
  expect([...settled.values()].every((count) => count === 1)).toBe(true);
  const failures = bundles.filter((bundle) => bundle.status === 'failure').length;
  const successes = bundles.filter((bundle) => bundle.status === 'success').length;
  expect(failures).toBe(Math.ceil(1_000 / 11));
  expect(successes + failures).toBe(1_000);
  const alive = bundles.map((bundle) => new WeakRef(bundle));
  const stats = agent.stats();
  expect(stats).toMatchObject({ total: 1_000, succeeded: successes, failed: failures, inFlight: 0, queued: 0, cacheHits: 0 });
  expect(stats.tokens).toBe(bundles.reduce((sum, bundle) => sum + bundle.usage.inputTokens + bundle.usage.outputTokens, 0));
  expect(runner.openSessions).toBe(0);
  expect(runner.opened).toBe(1_000);

  // Memory comes back once the results are dropped (the fakes keep records for inspection; drop those too).
  bundles.length = 0;
  runs.length = 0;
  runner.sessions.length = 0;
  runner.openSpecs.length = 0;
  generator.calls.length = 0;
  await new Promise((resolve) => setTimeout(resolve, 50));
  const after = heapMb();
  expect(typeof (globalThis as { gc?: unknown }).gc).toBe('function');
  // Nothing in the agent holds on to a finished run.
  expect(alive.filter((reference) => reference.deref() !== undefined).length).toBe(0);
  expect(after - before).toBeLessThan(20);
}, 120_000);
