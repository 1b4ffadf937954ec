import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createRedisCache } from '../../src/caches/redis.js';
import { PTCAgent } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { RedisServer, redisSkipReason } from '../helpers/redis-server.js';

const skipped = redisSkipReason === undefined ? '' : ` (SKIPPED: ${redisSkipReason})`;
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const script = fileURLToPath(new URL('./fixtures/agent-process.ts', import.meta.url));

const FILES = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' as const },
];
const PLAN = { taskDescription: 'Write add(a, b) in calc.py with pytest tests', requirements: ['add two numbers'] };

interface ProcessReport {
  pid: number;
  status: string;
  fromCache: boolean;
  cacheKey: string;
  executionId: string;
  files: string[];
  generatorCalls: number;
  sandboxesOpened: number;
  warnings: string[];
}

async function runAgentProcess(url: string, namespace: string): Promise<ProcessReport> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, url, namespace], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`agent process exited with ${String(code)}:\n${stderr}\n${stdout}`);
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as ProcessReport;
}

describe.skipIf(redisSkipReason !== undefined)(`PTCAgent with a Redis cache${skipped}`, () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });

  afterAll(async () => {
    await server?.stop();
  });

  test('two agents in two processes share one Redis: the second is a cache hit with zero generator calls', async () => {
    const namespace = `two-processes-${randomUUID()}`;
    const first = await runAgentProcess(server.url, namespace);
    const second = await runAgentProcess(server.url, namespace);
    expect(first.pid).not.toBe(second.pid);
    expect(first).toMatchObject({ status: 'success', fromCache: false, generatorCalls: 1, sandboxesOpened: 1, warnings: [] });
    expect(second).toMatchObject({ status: 'success', fromCache: true, generatorCalls: 0, sandboxesOpened: 0, warnings: [] });
    expect(second.cacheKey).toBe(first.cacheKey);
    expect(second.executionId).toBe(`process-${second.pid}`);
    expect(second.files).toEqual(first.files);
  }, 60_000);

  test('Redis killed during a run: the run still finishes (a success with a cache warning)', async () => {
    const local = await RedisServer.start();
    const cacheWarnings: string[] = [];
    const cache = createRedisCache(local.url, { operationTimeoutMs: 500, onWarning: (warning) => cacheWarnings.push(warning.message) });
    try {
      // The generator kills Redis while "writing code": the read happened, the write cannot.
      const generator = new ScriptedCodeGenerator(async () => {
        await local.kill();
        return { files: FILES };
      });
      const runner = new FakeSandboxRunner({ results: { passed: ['test_add'] } });
      const agent = new PTCAgent({ generator, runner, cache });
      const agentWarnings: string[] = [];
      agent.on('warning', (event) => agentWarnings.push(`${event.code}: ${event.message}`));
      const bundle = await agent.execute({ ...PLAN, executionId: 'killed-mid-run' });
      expect(bundle.status).toBe('success');
      expect(bundle.fromCache).toBe(false);
      expect(generator.calls).toHaveLength(1);
      // The write fails: the agent warns (CACHE_FAILED) with our message, the cache reports why.
      expect(agentWarnings.join('\n')).toMatch(/CACHE_FAILED: cache write failed/);
      expect(cacheWarnings.length).toBeGreaterThan(0);
    } finally {
      await cache.disconnect();
      await local.stop();
    }
  });

  test('Redis down for the whole run: the run succeeds without the cache', async () => {
    const local = await RedisServer.start();
    await local.kill();
    const cacheWarnings: string[] = [];
    const cache = createRedisCache(local.url, { onWarning: (warning) => cacheWarnings.push(warning.message) });
    try {
      const generator = new ScriptedCodeGenerator({ files: FILES });
      const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: { passed: ['test_add'] } }), cache });
      const agentWarnings: string[] = [];
      agent.on('warning', (event) => agentWarnings.push(`${event.code}: ${event.message}`));
      const bundle = await agent.execute(PLAN);
      expect(bundle.status).toBe('success');
      expect(generator.calls).toHaveLength(1);
      // The read is a miss plus our warning; the write fails and the agent warns.
      expect(cacheWarnings.join('\n')).toMatch(/Cache get failed: .*ECONNREFUSED/);
      expect(agentWarnings.join('\n')).toMatch(/CACHE_FAILED: cache write failed/);
    } finally {
      await cache.disconnect();
      await local.stop();
    }
  });
});
