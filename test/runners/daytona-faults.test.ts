import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { PTCAbortError, SandboxError, isPTCError } from '../../src/errors.js';
import type { DaytonaSandboxRunner, DaytonaSandboxRunnerOptions } from '../../src/runners/daytona.js';
import { FakeDaytonaServer, openSpec, runnerFor, signal } from '../fakes/daytona-server.js';

// Small deadlines: each fault case settles in well under a second or two.
const FAST: DaytonaSandboxRunnerOptions = {
  createTimeoutMs: 800,
  deleteTimeoutMs: 800,
  requestTimeoutMs: 800,
  commandGraceMs: 300,
  retries: 2,
  retryDelayMs: 5,
};

let fake: FakeDaytonaServer;
let runner: DaytonaSandboxRunner;
let warnings: string[];

beforeAll(async () => {
  fake = await FakeDaytonaServer.start();
});

afterAll(async () => {
  await fake?.close();
});

function freshRunner(options: DaytonaSandboxRunnerOptions = {}): DaytonaSandboxRunner {
  warnings = [];
  runner = runnerFor(fake, { ...FAST, onWarning: (message) => warnings.push(message), ...options });
  return runner;
}

afterEach(async () => {
  // Whatever the fault, nothing is left behind once the runner has settled its background work.
  await runner?.dispose();
  fake.clearFaults();
  expect(fake.liveSandboxes()).toEqual([]);
  fake.reset();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('DaytonaSandboxRunner fault handling (fake Daytona server)', () => {
  test('create fails: SANDBOX_OPEN_FAILED with the Daytona error as cause, not retried, nothing created', async () => {
    freshRunner();
    fake.injectFault({ endpoint: 'create', kind: 'error', status: 500, message: 'no capacity' });
    const error = await rejection(runner.open(openSpec()));
    expect(error).toBeInstanceOf(SandboxError);
    expect((error as SandboxError).code).toBe('SANDBOX_OPEN_FAILED');
    expect((error as Error).message).toMatch(/no capacity/);
    expect(((error as Error).cause as Error).name).toBe('DaytonaInternalServerError');
    expect(fake.count('create')).toBe(1);
  });

  test('create answered 503 once: retried, one sandbox', async () => {
    freshRunner();
    fake.injectFault({ endpoint: 'create', kind: 'error', status: 503 });
    const session = await runner.open(openSpec());
    await session.close();
    expect(fake.count('create')).toBe(2);
    expect(fake.allSandboxes()).toHaveLength(1);
  });

  test('create reached Daytona but the connection dropped: the retry adopts that sandbox instead of leaking it', async () => {
    freshRunner();
    fake.injectFault({ endpoint: 'create', kind: 'drop', phase: 'after' });
    const session = await runner.open(openSpec());
    expect(fake.allSandboxes()).toHaveLength(1);
    expect(session.id).toBe(fake.allSandboxes()[0]!.id);
    expect(fake.count('create')).toBe(1);
    expect(fake.count('get')).toBe(1);
    expect((await session.run(['sh', '-c', 'echo adopted'], { timeoutMs: 5_000, signal: signal() })).stdout).toBe('adopted\n');
    await session.close();
    expect(fake.count('delete')).toBe(1);
  });

  test('create hangs after Daytona made the sandbox: open times out and the sandbox is reaped by name', async () => {
    freshRunner();
    fake.injectFault({ endpoint: 'create', kind: 'hang', phase: 'after' });
    const error = await rejection(runner.open(openSpec()));
    expect(isPTCError(error) && error.code).toBe('SANDBOX_OPEN_FAILED');
    expect(((error as Error).cause as Error).name).toBe('PTCTimeoutError');
    await runner.dispose();
    expect(fake.allSandboxes()).toHaveLength(1);
    expect(fake.count('delete')).toBe(1);
  });

  test('create hangs before anything exists: open times out, nothing to delete', async () => {
    freshRunner();
    fake.injectFault({ endpoint: 'create', kind: 'hang' });
    const error = await rejection(runner.open(openSpec()));
    expect(isPTCError(error) && error.code).toBe('SANDBOX_OPEN_FAILED');
    await runner.dispose();
    expect(fake.allSandboxes()).toHaveLength(0);
  });

  test('an abort while creating rejects promptly with the abort reason; the sandbox is still deleted', async () => {
    freshRunner({ createTimeoutMs: 30_000 });
    fake.injectFault({ endpoint: 'create', kind: 'hang', phase: 'after' });
    const controller = new AbortController();
    const pending = runner.open(openSpec({ signal: controller.signal }));
    setTimeout(() => controller.abort(new PTCAbortError('user cancelled')), 100);
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(PTCAbortError);
    expect((error as Error).message).toBe('user cancelled');
    await runner.dispose();
    expect(fake.count('delete')).toBe(1);
  });

  test('upload fails: writeFiles rejects with SANDBOX_FAILED, the session still closes', async () => {
    freshRunner();
    const session = await runner.open(openSpec());
    fake.injectFault({ endpoint: 'upload', kind: 'error', status: 400 });
    const error = await rejection(session.sync([{ path: 'a.py', content: 'x = 1\n' }], { signal: signal() }));
    expect(isPTCError(error) && error.code).toBe('SANDBOX_FAILED');
    expect(fake.count('upload')).toBe(1);
    await session.close();
  });

  test('an upload whose connection drops is retried (re-writing the same bytes is harmless)', async () => {
    freshRunner();
    const session = await runner.open(openSpec());
    fake.injectFault({ endpoint: 'upload', kind: 'drop' });
    await session.sync([{ path: 'a.py', content: 'x = 1\n' }], { signal: signal() });
    expect(await session.readFile('a.py', { signal: signal() })).toBe('x = 1\n');
    expect(fake.count('upload')).toBe(2);
    await session.close();
  });

  test('a command whose answer never comes is abandoned after its timeout plus grace and reported as timed out', async () => {
    freshRunner();
    const session = await runner.open(openSpec());
    fake.injectFault({ endpoint: 'execute', kind: 'hang' });
    const result = await session.run(['sh', '-c', 'echo never-answered'], { timeoutMs: 500, signal: signal() });
    expect(result).toMatchObject({ timedOut: true, exitCode: null });
    expect(result.stderr).toMatch(/did not answer/);
    expect(fake.count('execute')).toBe(1);
    await session.close();
    expect(fake.count('delete')).toBe(1);
  });

  test('the connection drops during a test run: an error, never a retry of the run', async () => {
    freshRunner();
    const session = await runner.open(openSpec());
    const pending = session.run(['sh', '-c', 'sleep 5'], { timeoutMs: 10_000, signal: signal() });
    setTimeout(() => fake.dropConnections(), 300);
    const error = await rejection(pending);
    expect(error).toBeInstanceOf(SandboxError);
    expect((error as SandboxError).code).toBe('SANDBOX_FAILED');
    expect(((error as Error).cause as Error).name).toBe('DaytonaConnectionError');
    expect(fake.count('execute')).toBe(1);
    await session.close();
    expect(fake.count('delete')).toBe(1);
  });

  test('an abort during a run rejects with the abort reason at once', async () => {
    freshRunner();
    const session = await runner.open(openSpec());
    const controller = new AbortController();
    const pending = session.run(['sh', '-c', 'sleep 5'], { timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 200);
    const error = await rejection(pending);
    expect(isPTCError(error) && error.code).toBe('ABORTED');
    await session.close();
  });

  test('reads are retried after a dropped connection', async () => {
    freshRunner();
    const session = await runner.open(openSpec());
    await session.sync([{ path: 'r.txt', content: 'read me' }], { signal: signal() });
    // A command applies the sync; until then reads are answered without a download.
    await session.run(['true'], { timeoutMs: 10_000, signal: signal() });
    fake.injectFault({ endpoint: 'download', kind: 'drop' });
    expect(await session.readFile('r.txt', { signal: signal() })).toBe('read me');
    expect(fake.count('download')).toBe(2);
    await session.close();
  });

  test('delete answered 503 once, or dropped after it happened: retried, close resolves, nothing leaks', async () => {
    freshRunner();
    const first = await runner.open(openSpec());
    fake.injectFault({ endpoint: 'delete', kind: 'error', status: 503 });
    await first.close();
    const second = await runner.open(openSpec());
    fake.injectFault({ endpoint: 'delete', kind: 'drop', phase: 'after' });
    await second.close();
    expect(fake.count('delete')).toBe(4);
    expect(warnings).toEqual([]);
  });

  test('delete keeps failing: close never throws, a warning names the sandbox, sweepOrphans removes it later', async () => {
    freshRunner();
    const session = await runner.open(openSpec());
    fake.injectFault({ endpoint: 'delete', kind: 'error', status: 500, times: 10 });
    await expect(session.close()).resolves.toBeUndefined();
    await expect(session.close()).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(session.id);
    expect(fake.liveSandboxes()).toEqual([session.id]);
    fake.clearFaults();
    expect(await runner.sweepOrphans({ olderThanMs: 0 })).toEqual({ deleted: [session.id], failed: [] });
  });

  test('the API key never reaches an error message, even when Daytona echoes it', async () => {
    freshRunner();
    fake.injectFault({ endpoint: 'create', kind: 'error', status: 400, message: `invalid request for key ${fake.apiKey}` });
    const error = await rejection(runner.open(openSpec()));
    expect((error as Error).message).not.toContain(fake.apiKey);
    expect((error as Error).message).toContain('[redacted]');
  });

  test('a wrong API key fails open with SANDBOX_OPEN_FAILED', async () => {
    warnings = [];
    runner = runnerFor(fake, { ...FAST, apiKey: 'wrong-key-0123456789' });
    const error = await rejection(runner.open(openSpec()));
    expect(isPTCError(error) && error.code).toBe('SANDBOX_OPEN_FAILED');
    expect(((error as Error).cause as Error).name).toBe('DaytonaAuthenticationError');
    expect((error as Error).message).not.toContain('wrong-key-0123456789');
  });
});
