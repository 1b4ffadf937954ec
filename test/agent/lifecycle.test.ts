import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { EVENTS_CHANNEL_NAME, GenerationError, isPTCError, PlanValidationError, PTCAgent, PTCError, SandboxError, type SandboxRunner } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { expectNoOpenSession, FIXED, PLAN } from '../helpers.js';

describe('agent.close(): graceful shutdown', () => {
  test('cancels in-flight and queued runs, closes every sandbox, resolves once they resolved', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 60_000 });
    const runner = new FakeSandboxRunner();
    const agent = new PTCAgent({ generator, runner, maxConcurrent: 1, cache: false });
    const runs = [agent.execute({ ...PLAN, executionId: 'a' }), agent.execute({ ...PLAN, executionId: 'b' })];
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(agent.stats().inFlight).toBe(1);
    await agent.close();
    const bundles = await Promise.all(runs);
    expect(bundles.map((bundle) => bundle.status)).toEqual(['cancelled', 'cancelled']);
    expect(bundles[0]?.error?.message).toMatch(/agent was closed/);
    expect(agent.stats()).toMatchObject({ inFlight: 0, queued: 0, cancelled: 2, failed: 0 });
    expectNoOpenSession(runner);
  });

  test('drainTimeoutMs lets a run that finishes in time finish', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 100 });
    const runner = new FakeSandboxRunner();
    const agent = new PTCAgent({ generator, runner, cache: false });
    const run = agent.execute(PLAN);
    await new Promise((resolve) => setTimeout(resolve, 20));
    await agent.close({ drainTimeoutMs: 30_000 });
    expect((await run).status).toBe('success');
    expectNoOpenSession(runner);
  });

  test('after close, execute and stream reject with AGENT_CLOSED; close is idempotent; await using works', async () => {
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner(), cache: false });
    await agent[Symbol.asyncDispose]();
    await agent.close();
    await expect(agent.execute(PLAN)).rejects.toSatisfy((error: unknown) => isPTCError(error) && error.code === 'AGENT_CLOSED');
    await expect(agent.stream(PLAN).next()).rejects.toSatisfy((error: unknown) => isPTCError(error) && error.code === 'AGENT_CLOSED');
    expect(() => agent.close({ drainTimeoutMs: -1 })).toThrow(/drainTimeoutMs/);
  });

  test('close() waits for a sandbox that was still opening when its run ended, and closes it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const inner = new FakeSandboxRunner();
    // An open that ignores its signal and lands after the run has ended.
    const runner: SandboxRunner = { id: 'slow', open: async (spec) => gate.then(() => inner.open({ ...spec, signal: new AbortController().signal })) };
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator([{ error: new GenerationError('bad key', { retryable: false }) }]), runner, cache: false });
    const bundle = await agent.execute(PLAN);
    expect(bundle.status).toBe('failure');
    let closed = false;
    const closing = agent.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    release();
    await closing;
    expect(inner.opened).toBe(1);
    expect(inner.openSessions).toBe(0);
  });

  test('close() waits for a sandbox close that outlasted closeTimeoutMs (bounded by cleanupTimeoutMs)', async () => {
    const inner = new FakeSandboxRunner();
    let closed = 0;
    const runner: SandboxRunner = {
      id: 'slow-close',
      open: async (spec) => {
        const session = await inner.open(spec);
        return { id: session.id, sync: (files, options) => session.sync(files, options), run: (argv, options) => session.run(argv, options), readFile: (path, options) => session.readFile(path, options), close: async () => {
          await new Promise((resolve) => setTimeout(resolve, 300));
          await session.close();
          closed += 1;
        } };
      },
    };
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false, closeTimeoutMs: 50 });
    const bundle = await agent.execute(PLAN);
    expect(bundle.warnings.some((warning) => warning.includes('did not close within 50 ms'))).toBe(true);
    expect(closed).toBe(0);
    await agent.close();
    expect(closed).toBe(1);
    expect(inner.openSessions).toBe(0);
  });

  test('a run waiting in the queue is not timed out by the time it waits (the clock stops there)', async () => {
    const generator = new ScriptedCodeGenerator(async (request) => {
      if (request.plan.executionId === 'slow') await new Promise((resolve) => setTimeout(resolve, 600));
      return { files: FIXED };
    });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner(), cache: false, maxConcurrent: 1 });
    const slow = agent.execute({ ...PLAN, executionId: 'slow' });
    // Another task (an identical one would wait as its twin, on its own clock).
    const queued = await agent.execute({ ...PLAN, taskDescription: 'Write sub(a, b)', executionId: 'queued', timeoutMs: 300 });
    expect(queued.status).toBe('success');
    expect(queued.timings.queuedMs).toBeGreaterThan(300);
    expect((await slow).status).toBe('success');
  });

  test('stats count cancelled runs apart from failed ones', async () => {
    const agent = new PTCAgent({
      generator: new ScriptedCodeGenerator([{ error: new GenerationError('bad key', { retryable: false }) }]),
      runner: new FakeSandboxRunner(),
      cache: false,
    });
    const controller = new AbortController();
    controller.abort();
    await agent.execute(PLAN, { signal: controller.signal });
    await agent.execute(PLAN);
    expect(agent.stats()).toMatchObject({ total: 2, cancelled: 1, failed: 1, succeeded: 0 });
  });
});

describe('honest observability', () => {
  test('the bundle says which isolation the tests got', async () => {
    const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner(), cache: false }).execute(PLAN);
    expect(bundle.sandbox).toMatchObject({ runner: 'fake', isolation: 'fake' });
  });

  test("a runner's environment warnings reach the run's warning events and its bundle", async () => {
    const inner = new FakeSandboxRunner();
    const runner: SandboxRunner = {
      id: 'weak',
      open: (spec) => {
        spec.onWarning?.('ISOLATION_NONE', 'no jail here');
        return inner.open(spec);
      },
    };
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false });
    const codes: string[] = [];
    agent.on('warning', (event) => codes.push(event.code));
    const bundle = await agent.execute(PLAN);
    expect(codes).toEqual(['ISOLATION_NONE']);
    expect(bundle.warnings).toEqual(['no jail here']);
  });

  test('errors are recognised across copies of the package (a brand, not the class object)', () => {
    const dist = resolve(__dirname, '../../dist/index.cjs');
    if (!existsSync(dist)) {
      // CI builds before it tests; a developer's tree may not have dist/ yet.
      if (process.env.CI) throw new Error('dist/index.cjs is missing: CI must build before testing');
      console.warn('SKIPPED: dist/ is not built (npm run build)');
      return;
    }
    const other = createRequire(import.meta.url)(dist) as typeof import('../../src/index.js');
    expect(other.PTCError).not.toBe(PTCError);
    const foreign = new other.PlanValidationError([{ path: 'x', message: 'y' }]);
    expect(isPTCError(foreign)).toBe(true);
    expect(foreign instanceof PTCError).toBe(true);
    expect(foreign instanceof PlanValidationError).toBe(true);
    expect(foreign instanceof GenerationError).toBe(false);
    expect(new Error('plain') instanceof PTCError).toBe(false);
    expect(isPTCError({ code: 'PLAN_INVALID', message: 'looks alike' })).toBe(false);
  });
});

describe('logs without code changes: diagnostics_channel', () => {
  test("every event of every agent goes to 'ptc-agent:event', secrets scrubbed", async () => {
    const { subscribe, unsubscribe } = await import('node:diagnostics_channel');
    const seen: { type: string; message?: string }[] = [];
    const listener = (event: unknown) => seen.push(event as { type: string; message?: string });
    subscribe(EVENTS_CHANNEL_NAME, listener);
    try {
      const secret = 'sk-channel-secret-0000';
      const generator = new ScriptedCodeGenerator([{ error: new Error(`upstream said ${secret}`) }, { files: FIXED }]);
      const bundle = await new PTCAgent({ generator, runner: new FakeSandboxRunner(), cache: false, secrets: [secret] }).execute(PLAN);
      expect(bundle.status).toBe('success');
    } finally {
      unsubscribe(EVENTS_CHANNEL_NAME, listener);
    }
    expect(seen.map((event) => event.type)).toEqual(expect.arrayContaining(['run:start', 'generation:end', 'tests:end', 'run:end']));
    expect(seen.at(-1)?.type).toBe('run:end');
    expect(JSON.stringify(seen)).not.toContain('sk-channel-secret-0000');
    expect(JSON.stringify(seen)).toContain('[redacted]');
  });
});

describe('a preset whose own tools cannot be installed', () => {
  test('is TEST_PRESET_UNAVAILABLE when only the preset needed installing (tsx offline), DEPENDENCY_INSTALL_FAILED otherwise', async () => {
    const offline = new SandboxError('npm install tsx: ENOTFOUND registry', { code: 'DEPENDENCY_INSTALL_FAILED' });
    const ts = { taskDescription: 'add', language: 'typescript' as const };
    const presetOnly = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner({ faults: { open: offline } }), cache: false }).execute(ts);
    expect(presetOnly.error).toMatchObject({ code: 'TEST_PRESET_UNAVAILABLE', message: expect.stringMatching(/preset needs tsx, which could not be installed/) });
    const withPlanDependencies = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner({ faults: { open: offline } }), cache: false }).execute({ ...ts, dependencies: ['zod'] });
    expect(withPlanDependencies.error?.code).toBe('DEPENDENCY_INSTALL_FAILED');
  });
});
