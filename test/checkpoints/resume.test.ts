import { describe, expect, test } from 'vitest';
import {
  CHECKPOINT_VERSION,
  CheckpointStateSchema,
  KeyvCheckpointStore,
  MemoryCheckpointStore,
  PTCAgent,
  PTCError,
  type CheckpointStore,
  type GeneratedFileInput,
} from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { BUGGY, FIXED, PLAN, expectNoOpenSession, expectValidBundle, judgeCalc } from '../helpers.js';

const ALMOST: GeneratedFileInput[] = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a * b\n' },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
];

/** Runs `PLAN` with `maxIterations` and cancels it while iteration `stopAt` is being generated: a crash after iteration `stopAt - 1`. */
async function interruptedRun(store: CheckpointStore, executionId: string, stopAt = 2, maxIterations = 3) {
  const controller = new AbortController();
  const generator = new ScriptedCodeGenerator((request) => {
    if (request.iteration === stopAt) controller.abort();
    return { files: request.iteration === 1 ? BUGGY : ALMOST };
  });
  const runner = new FakeSandboxRunner({ results: judgeCalc });
  const agent = new PTCAgent({ generator, runner, checkpoints: store, cache: false });
  const bundle = await agent.execute({ ...PLAN, executionId, maxIterations }, { signal: controller.signal });
  await agent.close();
  expect(bundle.status).toBe('cancelled');
  expectNoOpenSession(runner);
  return { bundle, generator };
}

describe('checkpoints and resume', () => {
  test('a run cancelled during iteration 2 resumes at iteration 2: only the missing generations, usage summed, a fresh sandbox', async () => {
    const store = new MemoryCheckpointStore();
    const first = await interruptedRun(store, 'exec-resume');
    expect(first.generator.calls.map((call) => call.iteration)).toEqual([1, 2]);
    expect(store.size).toBe(1);

    const generator = new ScriptedCodeGenerator({ files: FIXED, usage: { inputTokens: 1_000, outputTokens: 7 } });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner, checkpoints: store, cache: false });
    const bundle = await agent.resume('exec-resume');
    // Exactly the missing generation: iteration 2, refining iteration 1's files and failures.
    expect(generator.calls.map((call) => call.iteration)).toEqual([2]);
    expect(generator.calls[0]!.previousFiles.find((file) => file.path === 'calc.py')?.content).toContain('a - b');
    expect(generator.calls[0]!.failures.map((failure) => failure.name)).toEqual(['test_add']);
    expect(bundle.status).toBe('success');
    expect(bundle.executionId).toBe('exec-resume');
    expect(bundle.iterations.map((entry) => entry.iteration)).toEqual([1, 2]);
    expect(bundle.iterations[0]!.testReport?.failed).toBe(1);
    expect(bundle.bestIteration).toBe(2);
    // Iteration 1's 100 + 50 tokens (the aborted call of the first run never reported any) and this run's.
    expect(bundle.usage).toMatchObject({ inputTokens: 1_100, outputTokens: 57, apiCalls: 2 });
    expect(runner.opened).toBe(1);
    expect(runner.sessions[0]!.commands).toHaveLength(1);
    expectValidBundle(bundle);
    expectNoOpenSession(runner);
    // A finished run's checkpoint is deleted: nothing to resume any more.
    expect(store.size).toBe(0);
    await expect(agent.resume('exec-resume')).rejects.toMatchObject({ code: 'CHECKPOINT_NOT_FOUND' });
    await agent.close();
  });

  test('the token budget carries over: a resumed run stops where the whole run would have', async () => {
    const store = new MemoryCheckpointStore();
    await interruptedRun(store, 'exec-budget', 3, 5);
    const generator = new ScriptedCodeGenerator({ files: ALMOST });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: store, cache: false });
    // Two iterations of 150 tokens were spent; a budget of 400 allows one more.
    const bundle = await agent.execute({ ...PLAN, executionId: 'exec-budget', maxIterations: 5, budget: { maxTokens: 400 } });
    expect(generator.calls.map((call) => call.iteration)).toEqual([3]);
    expect(generator.calls[0]!.remainingTokens).toBe(100);
    expect(bundle.stopReason).toBe('token_budget');
    expect(bundle.iterations).toHaveLength(3);
    expect(bundle.usage.inputTokens + bundle.usage.outputTokens).toBe(450);
    await agent.close();
  });

  test('execute() with the same execution id resumes the same plan, and runs afresh with a warning for another plan', async () => {
    const store = new MemoryCheckpointStore();
    await interruptedRun(store, 'exec-same');
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: store, cache: false });
    const warnings: { code: string; message: string }[] = [];
    agent.on('warning', (warning) => warnings.push(warning));
    const resumed = await agent.execute({ ...PLAN, executionId: 'exec-same', maxIterations: 3 });
    expect(generator.calls.map((call) => call.iteration)).toEqual([2]);
    expect(resumed.iterations).toHaveLength(2);

    await interruptedRun(store, 'exec-other');
    const other = await agent.execute({ ...PLAN, taskDescription: 'Write sub(a, b)', executionId: 'exec-other' });
    expect(generator.calls.map((call) => call.iteration)).toEqual([2, 1]);
    expect(other.iterations).toHaveLength(1);
    expect(warnings).toEqual([expect.objectContaining({ code: 'CHECKPOINT_IGNORED', message: expect.stringContaining('another plan') })]);
    expect(other.warnings.some((warning) => warning.includes('another plan'))).toBe(true);
    await agent.close();
  });

  test('a corrupt, foreign-generator, unknown-version or tampered checkpoint is ignored with a warning: a fresh run', async () => {
    const store = new MemoryCheckpointStore();
    await interruptedRun(store, 'exec-valid');
    const valid = (await store.load('exec-valid', { signal: new AbortController().signal })) as Record<string, unknown>;
    expect(CheckpointStateSchema.safeParse(valid).success).toBe(true);
    const contents = valid.contents as Record<string, string>;
    const [hash] = Object.keys(contents);
    const variants: [string, unknown, string][] = [
      ['not an object', 'garbage', 'failed validation'],
      ['unknown version', { ...valid, version: CHECKPOINT_VERSION + 1 }, 'version'],
      ['other generator', { ...valid, generatorId: 'someone-else' }, 'generator'],
      ['tampered content', { ...valid, contents: { ...contents, [hash!]: 'import os; os.system("rm -rf /")' } }, 'hash'],
      ['unsafe path', { ...valid, iterationFiles: [{ iteration: 1, files: [{ path: '../../etc/passwd', sha256: hash, kind: 'source' }] }] }, 'failed validation'],
      ['plan swapped', { ...valid, plan: { ...(valid.plan as object), taskDescription: 'something else' } }, 'hash'],
    ];
    for (const [name, value, expected] of variants) {
      const target = new MemoryCheckpointStore();
      await target.save('exec-valid', value as never, { signal: new AbortController().signal });
      const generator = new ScriptedCodeGenerator({ files: FIXED });
      const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: target, cache: false });
      const warnings: { code: string; message: string }[] = [];
      agent.on('warning', (warning) => warnings.push(warning));
      const bundle = await agent.execute({ ...PLAN, executionId: 'exec-valid', maxIterations: 3 });
      expect(generator.calls.map((call) => call.iteration), name).toEqual([1]);
      expect(bundle.status, name).toBe('success');
      expect(warnings, name).toEqual([expect.objectContaining({ code: 'CHECKPOINT_IGNORED', message: expect.stringContaining(expected) })]);
      // resume() has no plan to fall back on: it says why it cannot.
      await target.save('exec-valid', value as never, { signal: new AbortController().signal });
      await expect(agent.resume('exec-valid'), name).rejects.toMatchObject({ code: 'CHECKPOINT_NOT_FOUND' });
      await agent.close();
    }
  });

  test('a checkpoint that would hold a secret is not saved (a warning), and the run goes on', async () => {
    const secret = 'sk-live-0123456789abcdef';
    const store = new MemoryCheckpointStore();
    const controller = new AbortController();
    const generator = new ScriptedCodeGenerator((request) => {
      if (request.iteration === 2) controller.abort();
      return { files: BUGGY };
    });
    // The plan carries the secret (a user's mistake): the checkpoint would store it.
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: store, cache: false, secrets: [secret] });
    const bundle = await agent.execute({ ...PLAN, context: `key ${secret}`, executionId: 'exec-secret' }, { signal: controller.signal });
    expect(store.size).toBe(0);
    expect(bundle.warnings.some((warning) => warning.includes('would contain a secret'))).toBe(true);
    await agent.close();
  });

  test('a failing or hanging store is a warning, never a failed run', async () => {
    const failing: CheckpointStore = {
      load: async () => {
        throw new Error('store down');
      },
      save: async () => {
        throw new Error('store down');
      },
      delete: () => new Promise(() => {}),
    };
    const generator = new ScriptedCodeGenerator([{ files: BUGGY }, { files: FIXED }]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner, checkpoints: failing, cache: false, cacheTimeoutMs: 50 });
    const codes: string[] = [];
    agent.on('warning', ({ code }) => codes.push(code));
    const bundle = await agent.execute({ ...PLAN, executionId: 'exec-failing' });
    expect(bundle.status).toBe('success');
    expect(bundle.iterations).toHaveLength(2);
    // load, the save before iteration 2, and the delete that never answered.
    expect(codes).toEqual(['CHECKPOINT_FAILED', 'CHECKPOINT_FAILED', 'CHECKPOINT_FAILED']);
    await expect(agent.resume('exec-failing')).rejects.toMatchObject({ code: 'CHECKPOINT_NOT_FOUND', message: expect.stringContaining('store down') });
    expectNoOpenSession(runner);
    await agent.close();
  });

  test('resume without a checkpoint, or without a store, is a clear PTCError', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const withStore = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: new MemoryCheckpointStore() });
    const error = await withStore.resume('nothing-here').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PTCError);
    expect(error).toMatchObject({ code: 'CHECKPOINT_NOT_FOUND', message: expect.stringContaining('no checkpoint for nothing-here') });
    const without = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }) });
    await expect(without.resume('x')).rejects.toMatchObject({ code: 'CHECKPOINT_NOT_FOUND', message: expect.stringContaining('checkpoints option') });
    expect(generator.calls).toHaveLength(0);
    expect(() => new PTCAgent({ generator, checkpoints: {} as never })).toThrow(/CheckpointStore/);
    expect(() => new PTCAgent({ generator, checkpointTtl: 5 } as never)).toThrow(/checkpointTtlMs/);
    await withStore.close();
    await without.close();
  });

  test('checkpointTtlMs keeps a finished run as finished: nothing to resume, and execute() runs afresh', async () => {
    const store = new KeyvCheckpointStore();
    await interruptedRun(store, 'exec-kept');
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), checkpoints: store, cache: false, checkpointTtlMs: 60_000 });
    await agent.resume('exec-kept');
    const kept = CheckpointStateSchema.parse(await store.load('exec-kept', { signal: new AbortController().signal }));
    expect(kept.finished).toEqual({ stopReason: 'tests_passed' });
    expect(kept.iterations.map((entry) => entry.iteration)).toEqual([1, 2]);
    await expect(agent.resume('exec-kept')).rejects.toMatchObject({ code: 'CHECKPOINT_NOT_FOUND', message: expect.stringContaining('already finished') });
    const again = await agent.execute({ ...PLAN, executionId: 'exec-kept', maxIterations: 3 });
    expect(again.iterations).toHaveLength(1);
    expect(generator.calls.map((call) => call.iteration)).toEqual([2, 1]);
    await agent.close();
  });
});
