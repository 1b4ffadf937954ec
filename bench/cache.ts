/**
 * Cache latency: `npm run bench:cache` (tsx bench/cache.ts).
 *
 * 1. Hit latency (get of a stored bundle, validated) of `LruCache` (in process), of
 *    KeyvCache in memory and on a real redis-server (started on a free loopback port when
 *    `redis-server` is on PATH).
 * 2. One plan end to end through PTCAgent with fakes (scripted generator, fake sandbox): a miss
 *    (fresh key each time) against a hit, with an `LruCache` and on Redis.
 *
 * Goals: memory hit p50 <= 50 µs, Redis hit p50 <= 1 ms. Every figure comes from this one run.
 */
import { performance } from 'node:perf_hooks';
import { PTCAgent } from '../src/agent.js';
import { KeyvCache } from '../src/caches/keyv.js';
import { LruCache } from '../src/caches/lru.js';
import { createRedisCache } from '../src/caches/redis.js';
import type { Cache } from '../src/contracts/cache.js';
import { sampleBundle } from '../src/testing/conformance/cache.js';
import { FakeSandboxRunner } from '../src/testing/fake-runner.js';
import { ScriptedCodeGenerator } from '../src/testing/scripted-generator.js';
import { RedisServer, REDIS_SERVER_PATH } from '../test/helpers/redis-server.js';
import { reportResult } from './result.js';

const signal = new AbortController().signal;

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))]!;
}

function summary(samplesMs: number[]) {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), n: sorted.length };
}

const micros = (ms: number) => `${(ms * 1000).toFixed(1)} µs`;

async function hitLatency(cache: Cache, iterations: number) {
  const key = 'ptc:v1:bench-hit';
  await cache.set(key, sampleBundle('bench'), { ttlMs: 600_000, signal });
  for (let index = 0; index < Math.min(500, iterations); index += 1) await cache.get(key, { signal });
  const samples: number[] = [];
  for (let index = 0; index < iterations; index += 1) {
    const started = performance.now();
    const value = await cache.get(key, { signal });
    samples.push(performance.now() - started);
    if (value === undefined) throw new Error('expected a hit');
  }
  return summary(samples);
}

const FILES = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' as const },
];

async function endToEnd(cache: Cache, iterations: number) {
  const generator = new ScriptedCodeGenerator({ files: FILES }, { retainCalls: false });
  const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: { passed: ['test_add'] } }), cache });
  const plan = (task: string) => ({ taskDescription: task, requirements: ['add two numbers'] });
  // Warm-up, and the entry the hits read.
  for (let index = 0; index < 20; index += 1) await agent.execute(plan(`warm-up ${index}`));
  await agent.execute(plan('Write add(a, b) in calc.py'));
  const miss: number[] = [];
  const hit: number[] = [];
  for (let index = 0; index < iterations; index += 1) {
    let started = performance.now();
    const fresh = await agent.execute(plan(`Write add(a, b) in calc.py, variant ${index}`));
    miss.push(performance.now() - started);
    started = performance.now();
    const cached = await agent.execute(plan('Write add(a, b) in calc.py'));
    hit.push(performance.now() - started);
    if (fresh.fromCache || !cached.fromCache) throw new Error('expected a miss then a hit');
  }
  return { miss: summary(miss), hit: summary(hit) };
}

function report(label: string, result: { p50: number; p99: number; n: number }, goalMs?: number) {
  if (goalMs !== undefined) reportResult({ name: `cache: ${label} p50`, value: result.p50 * 1000, unit: 'µs', goal: `<= ${goalMs * 1000}` });
  const verdict = goalMs === undefined ? '' : result.p50 <= goalMs ? `  (goal p50 <= ${micros(goalMs)}: met)` : `  (goal p50 <= ${micros(goalMs)}: MISSED)`;
  console.log(`${label.padEnd(34)} p50 ${micros(result.p50).padStart(10)}   p99 ${micros(result.p99).padStart(10)}   n=${result.n}${verdict}`);
}

function reportEndToEnd(label: string, result: Awaited<ReturnType<typeof endToEnd>>) {
  report(`${label} end to end, miss`, result.miss);
  report(`${label} end to end, hit`, result.hit);
  console.log(`${label.padEnd(34)} hit is ${(result.miss.p50 / result.hit.p50).toFixed(1)}x faster than a miss (p50)`);
  reportResult({ name: `cache: ${label} end to end, hit / miss`, value: result.hit.p50 / result.miss.p50, unit: 'x' });
}

console.log(`node ${process.version}, ${new Date().toISOString()}`);
console.log('End to end uses zero-latency fakes, so a miss here is pure agent + sandbox-fake overhead:');
console.log('with a real model (seconds per call) a hit saves the whole generation and test time.\n');

report('memory hit (LruCache)', await hitLatency(new LruCache(), 20_000), 0.05);
report('memory hit (KeyvCache)', await hitLatency(new KeyvCache(), 20_000), 0.05);

let server: RedisServer | undefined;
if (REDIS_SERVER_PATH) {
  server = await RedisServer.start();
  const redis = createRedisCache(server.url, { namespace: 'bench' });
  try {
    report('redis hit (loopback redis-server)', await hitLatency(redis, 5_000), 1);
    console.log();
    reportEndToEnd('memory', await endToEnd(new LruCache(), 300));
    console.log();
    reportEndToEnd('redis', await endToEnd(redis, 300));
  } finally {
    await redis.disconnect();
    await server.stop();
  }
} else {
  console.warn('\n*** redis-server is not on PATH: Redis figures SKIPPED (apt-get install -y redis-server) ***\n');
  reportEndToEnd('memory', await endToEnd(new LruCache(), 300));
}
