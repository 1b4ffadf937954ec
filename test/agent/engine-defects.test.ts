/**
 * One test per defect of issue 11 (the run engine rebuilt in c43f43b). Each asserts the fixed
 * behaviour with the fakes and would fail on the engine before it.
 */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  type ArtifactBundle,
  ArtifactBundleSchema,
  BundleFileSchema,
  type CodeGenerator,
  EVENT_NAMES,
  GenerationError,
  type GeneratedFileInput,
  PTCAgent,
  PlanValidationError,
  SandboxError,
  type SandboxRunner,
  type Usage,
} from '../../src/index.js';
import {
  type FakeRunContext,
  FakeSandboxRunner,
  type FakeTestResult,
  type JUnitCaseInput,
  MemoryCache,
  ScriptedCodeGenerator,
  delay,
  junitXml,
} from '../../src/testing/index.js';
import { BUGGY, FIXED, PLAN, expectNoOpenSession, expectValidBundle, judgeCalc, wrapSessions } from '../helpers.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const SECRET = 'sk-test-secret-123456';
const FIXED_CALC = FIXED[0]!.content;

/** A user-supplied acceptance test; the model may never write `tests/test_acc.py` (nor `tests`). */
const ACCEPTANCE = { path: 'tests/test_acc.py', content: 'from calc import add\n\ndef test_acc():\n    assert add(2, 2) == 4\n' };

/**
 * judgeCalc for plans with ACCEPTANCE: the whole-suite run reports a case of the acceptance module
 * (pytest's classname), and the acceptance run on its own passes while calc.py adds.
 */
const judgeWithAcceptance = ({ files, acceptance }: FakeRunContext): FakeTestResult => {
  const ok = files.get('calc.py')?.includes('a + b') ?? false;
  if (acceptance) return ok ? { passed: ['test_acc'] } : { failed: [{ name: 'test_acc', message: 'assert 0 == 4' }] };
  return {
    report: junitXml([
      { name: 'test_add', suite: 'tests.test_calc', status: ok ? 'passed' : 'failed', message: 'assert -1 == 3' },
      { name: 'test_acc', suite: 'tests.test_acc', status: ok ? 'passed' : 'failed', message: 'assert 0 == 4' },
    ]),
    exitCode: ok ? 0 : 1,
  };
};

type RecordedEvent = { name: string; executionId: string; code?: string; iteration?: number; error?: { code: string; message: string } };

/** Records every event of the agent, in order (`warning` and `sandbox:ready` included). */
function recordEvents(agent: PTCAgent): RecordedEvent[] {
  const events: RecordedEvent[] = [];
  for (const name of EVENT_NAMES) agent.on(name, (payload) => events.push({ name, ...(payload as Omit<RecordedEvent, 'name'>) }));
  return events;
}

const warningCodes = (events: readonly RecordedEvent[]) => events.filter((event) => event.name === 'warning').map((event) => event.code);

// 1 ─────────────────────────────────────────────────────────────────────────────────────────────
test('1. each iteration is tested on exactly its own files plus the acceptance tests: nothing of iteration 1 or its test run survives', async () => {
  const workspaces: Array<{ runIndex: number; acceptance: boolean; paths: string[] }> = [];
  const runner = new FakeSandboxRunner({
    results: (context) => {
      workspaces.push({ runIndex: context.runIndex, acceptance: context.acceptance, paths: [...context.files.keys()].sort() });
      if (context.runIndex === 0) {
        // Iteration 1's tests leave files behind, as real test runs do.
        const workspace = context.files as Map<string, string>;
        workspace.set('made_by_tests.txt', 'written by a test');
        workspace.set('__pycache__/calc.cpython-312.pyc', 'bytecode');
      }
      return judgeWithAcceptance(context);
    },
  });
  const generator = new ScriptedCodeGenerator([{ files: [...BUGGY, { path: 'only_in_iteration_1.py', content: 'X = 1\n' }] }, { files: FIXED }]);
  const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, acceptanceTests: [ACCEPTANCE] });

  expect(bundle.status).toBe('success');
  expect(bundle.iterations).toHaveLength(2);
  expect(runner.opened).toBe(1);
  const expected = ['calc.py', 'tests/test_acc.py', 'tests/test_calc.py'];
  // Run 0 is iteration 1 (red: no acceptance run), run 1 is iteration 2's whole-suite run.
  const iteration2 = workspaces.find((workspace) => workspace.runIndex === 1);
  expect(iteration2?.paths).toEqual(expected);
  expect(iteration2?.acceptance).toBe(false);
  // The acceptance run's workspace is synced afresh too: only the agent's own config is added.
  const acceptanceRun = workspaces.find((workspace) => workspace.acceptance);
  expect(acceptanceRun?.paths.filter((path) => !path.startsWith('.ptc/acceptance/'))).toEqual(expected);
  expectNoOpenSession(runner);
});

// 2 ─────────────────────────────────────────────────────────────────────────────────────────────
test("2. a model file whose path is an acceptance test's directory is rejected output with feedback, not a sandbox failure", async () => {
  const clashing: GeneratedFileInput[] = [
    { path: 'calc.py', content: FIXED_CALC },
    { path: 'tests', content: 'not a directory' },
    { path: 'test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
  ];
  const generator = new ScriptedCodeGenerator([{ files: clashing }, { files: FIXED }]);
  const runner = new FakeSandboxRunner({ results: judgeWithAcceptance });
  const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, acceptanceTests: [ACCEPTANCE] });

  expect(bundle.stopReason).not.toBe('sandbox_failed');
  expect(bundle.iterations[0]?.error?.code).toBe('OUTPUT_REJECTED');
  expect(generator.calls).toHaveLength(2);
  expect(generator.calls[1]?.problem).toContain('tests');
  expect(generator.calls[1]?.problem).toContain('both a file and a directory');
  expect(bundle.status).toBe('success');
  // The clashing attempt never reached the sandbox.
  for (const session of runner.sessions) expect([...session.files.values()]).not.toContain('not a directory');
  expectNoOpenSession(runner);
});

// 3 ─────────────────────────────────────────────────────────────────────────────────────────────
describe('3. a model file holding a secret value is refused, never shipped, never cached', () => {
  const leaks: Array<[string, GeneratedFileInput]> = [
    ['content', { path: 'settings.py', content: `API_KEY = "${SECRET}"\n` }],
    ['path', { path: `keys/${SECRET}.py`, content: 'X = 1\n' }],
  ];
  test.each(leaks)('in its %s', async (_where, leak) => {
    const generator = new ScriptedCodeGenerator([{ files: [...FIXED, leak] }, { files: FIXED }]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const cache = new MemoryCache();
    const agent = new PTCAgent({ generator, runner, cache, secrets: [SECRET] });
    const events = recordEvents(agent);
    const bundle = await agent.execute(PLAN);

    expect(bundle.iterations[0]?.error?.code).toBe('OUTPUT_REJECTED');
    expect(bundle.iterations[0]?.error?.message).toContain('secret');
    expect(bundle.iterations[0]?.error?.message).not.toContain(SECRET);
    expect(generator.calls[1]?.problem).toContain('secret');
    expect(JSON.stringify(generator.calls[1])).not.toContain(SECRET);
    expect(bundle.status).toBe('success');
    expect(JSON.stringify(bundle)).not.toContain(SECRET);
    // Refused, not rewritten: nothing was scrubbed into the bundle either.
    expect(JSON.stringify(bundle.files)).not.toContain('[redacted]');
    expect(JSON.stringify(events)).not.toContain(SECRET);
    expect(cache.sets).toBe(1);
    for (const entry of cache.entries.values()) expect(entry.json).not.toContain(SECRET);
    for (const session of runner.sessions) for (const [path, content] of session.files) expect(path + content).not.toContain(SECRET);
    expectNoOpenSession(runner);
  });
});

// 4 ─────────────────────────────────────────────────────────────────────────────────────────────
describe('4. a cache hit returns the same bytes as the miss; a bad entry is a miss', () => {
  test('hit == miss, byte for byte', async () => {
    const cache = new MemoryCache();
    const files = [...FIXED, { path: 'docs/notes.md', content: 'naïve – “quotes” 🚀\r\n\ttabs  and   spaces  \n' }];
    const generator = new ScriptedCodeGenerator({ files });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache, secrets: [SECRET] });
    const miss = await agent.execute({ ...PLAN, executionId: 'miss' });
    const hit = await agent.execute({ ...PLAN, executionId: 'hit' });

    expect(miss.fromCache).toBe(false);
    expect(hit.fromCache).toBe(true);
    expect(generator.calls).toHaveLength(1);
    expect(hit.files).toEqual(miss.files);
    for (const file of [...miss.files, ...hit.files]) {
      expect(file.sha256).toBe(sha256(file.content));
      expect(file.bytes).toBe(Buffer.byteLength(file.content, 'utf8'));
    }
    expect(hit.files.find((file) => file.path === 'docs/notes.md')?.content).toBe(files[2]!.content);
  });

  const crafted: Array<[string, (bundle: ArtifactBundle) => void]> = [
    [
      'a file whose hash does not match its content',
      (bundle) => {
        bundle.files[0]!.content = 'def add(a, b):\n    return 42\n';
      },
    ],
    [
      'a traversal path (../../.bashrc)',
      (bundle) => {
        bundle.files[0]!.path = '../../.bashrc';
      },
    ],
    [
      'a secret value',
      (bundle) => {
        const file = bundle.files[0]!;
        file.content = `def add(a, b):\n    return a + b\nKEY = "${SECRET}"\n`;
        file.sha256 = sha256(file.content);
        file.bytes = Buffer.byteLength(file.content, 'utf8');
      },
    ],
  ];
  test.each(crafted)('an entry with %s is a miss with a CACHE_FAILED warning', async (_label, craft) => {
    const cache = new MemoryCache();
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache, secrets: [SECRET] });
    const original = await agent.execute({ ...PLAN, executionId: 'first' });
    expect(original.status).toBe('success');

    const entry = structuredClone(original);
    craft(entry);
    await cache.set(agent.cacheKeyFor(PLAN), entry, { ttlMs: 0, signal: new AbortController().signal });
    const events = recordEvents(agent);
    const again = await agent.execute({ ...PLAN, executionId: 'second' });

    expect(again.fromCache).toBe(false);
    expect(generator.calls).toHaveLength(2);
    expect(warningCodes(events)).toContain('CACHE_FAILED');
    expect(again.warnings.join('\n')).toContain('cached entry');
    expect(again.files).toEqual(original.files);
    expect(JSON.stringify(again)).not.toContain(SECRET);
    expect(JSON.stringify(again)).not.toContain('.bashrc');
    expect(JSON.stringify(events)).not.toContain(SECRET);
    expectValidBundle(again);
  });
});

// 5 ─────────────────────────────────────────────────────────────────────────────────────────────
test('5. BundleFileSchema and ArtifactBundleSchema refuse traversal and absolute paths', async () => {
  const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner(), cache: false }).execute(PLAN);
  // Control: the real bundle and its file pass.
  expect(ArtifactBundleSchema.safeParse(bundle).success).toBe(true);
  expect(BundleFileSchema.safeParse(bundle.files[0]).success).toBe(true);
  for (const path of ['../../.bashrc', 'src/../../escape.py', '/etc/passwd', '..\\evil.py', 'C:/evil.py']) {
    const file = { ...bundle.files[0]!, path };
    expect(BundleFileSchema.safeParse(file).success, path).toBe(false);
    expect(ArtifactBundleSchema.safeParse({ ...bundle, files: [file, ...bundle.files.slice(1)] }).success, path).toBe(false);
  }
});

// 6 ─────────────────────────────────────────────────────────────────────────────────────────────
describe('6. the bundle is a value', () => {
  test('nothing changes it, and no event follows run:end, after execute() resolves (slow, failing close)', async () => {
    const inner = new FakeSandboxRunner({ results: judgeCalc });
    const runner = wrapSessions(inner, (session) => ({
      close: async () => {
        await sleep(150);
        await session.close();
        throw new Error('late close failure');
      },
    }));
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false, closeTimeoutMs: 30 });
    const events = recordEvents(agent);
    const bundle = await agent.execute(PLAN);
    const snapshot = JSON.stringify(bundle);
    const warnings = [...bundle.warnings];
    const seen = events.map((event) => event.name);

    expect(warnings.join('\n')).toContain('did not close within 30 ms');
    expect(seen.at(-1)).toBe('run:end');
    await sleep(300);
    expect(inner.closed).toBe(1);
    expect(bundle.warnings).toEqual(warnings);
    expect(JSON.stringify(bundle)).toBe(snapshot);
    expect(events.map((event) => event.name)).toEqual(seen);
  });

  test('a sandbox that opens after the run ended emits nothing (no sandbox:ready, no warning) and is closed', async () => {
    const inner = new FakeSandboxRunner();
    // Ignores its signal, and lands well after the run ended.
    const runner: SandboxRunner = {
      id: 'late',
      async open(spec) {
        await sleep(150);
        return inner.open({ ...spec, signal: new AbortController().signal });
      },
    };
    const generator = new ScriptedCodeGenerator({ error: new GenerationError('invalid x-api-key', { retryable: false }) });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const events = recordEvents(agent);
    const bundle = await agent.execute(PLAN);
    const snapshot = JSON.stringify(bundle);
    const seen = events.map((event) => event.name);

    expect(bundle.stopReason).toBe('generation_failed');
    expect(inner.opened).toBe(0);
    expect(seen.at(-1)).toBe('run:end');
    await sleep(400);
    // The open landed after the run: nothing of it reaches listeners or the bundle.
    expect(inner.opened).toBe(1);
    expect(events.map((event) => event.name)).toEqual(seen);
    expect(JSON.stringify(bundle)).toBe(snapshot);
    expectNoOpenSession(inner);
  });

  test('leader and follower bundles share no arrays, and mutating one does not change the other', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 50 });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache: false });
    const [leader, follower] = await Promise.all([agent.execute(PLAN), agent.execute(PLAN)]);

    expect(generator.calls).toHaveLength(1);
    expect(leader.fromCache).toBe(false);
    expect(follower.fromCache).toBe(true);
    expect(follower.files).not.toBe(leader.files);
    expect(follower.warnings).not.toBe(leader.warnings);
    expect(follower.iterations).not.toBe(leader.iterations);
    expect(follower.files[0]).not.toBe(leader.files[0]);

    const followerBefore = JSON.stringify(follower);
    leader.files[0]!.content = 'mutated';
    leader.files.push({ ...leader.files[0]!, path: 'extra.py' });
    leader.warnings.push('mutated');
    leader.iterations[0]!.files.length = 0;
    leader.iterations.push({ ...leader.iterations[0]! });
    if (leader.testReport) leader.testReport.cases.length = 0;
    expect(JSON.stringify(follower)).toBe(followerBefore);

    const leaderBefore = JSON.stringify(leader);
    follower.files.length = 0;
    follower.warnings.push('mutated by the follower');
    follower.iterations.length = 0;
    expect(JSON.stringify(leader)).toBe(leaderBefore);
  });
});

// 7 ─────────────────────────────────────────────────────────────────────────────────────────────
describe('7. single flight without a herd', () => {
  test('a cancelled leader with 9 waiting followers costs exactly one more generation and one more sandbox', async () => {
    const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 200 });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const controller = new AbortController();
    const leader = agent.execute(PLAN, { signal: controller.signal });
    const followers = Array.from({ length: 9 }, () => agent.execute(PLAN));
    await sleep(50);
    controller.abort();

    expect((await leader).status).toBe('cancelled');
    const bundles = await Promise.all(followers);
    expect(bundles.map((bundle) => bundle.status)).toEqual(Array(9).fill('success'));
    expect(generator.calls).toHaveLength(2);
    expect(runner.opened).toBe(2);
    expect(bundles.filter((bundle) => !bundle.fromCache)).toHaveLength(1);
    expectNoOpenSession(runner);
  });

  test('followers share a leader that ended partial_success: one generation in total', async () => {
    const generator = new ScriptedCodeGenerator({ files: BUGGY, delayMs: 50 });
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const plan = { ...PLAN, maxIterations: 1 };
    const bundles = await Promise.all(Array.from({ length: 10 }, () => agent.execute(plan)));

    expect(bundles.map((bundle) => bundle.status)).toEqual(Array(10).fill('partial_success'));
    expect(generator.calls).toHaveLength(1);
    expect(runner.opened).toBe(1);
    expect(bundles.filter((bundle) => bundle.fromCache)).toHaveLength(9);
  });
});

// 8 ─────────────────────────────────────────────────────────────────────────────────────────────
test('8. a cache hit does not wait for a concurrency slot', async () => {
  const cache = new MemoryCache();
  const generator = new ScriptedCodeGenerator((request) => (request.plan.taskDescription.startsWith('slow') ? { files: FIXED, delayMs: 1_500 } : { files: FIXED }));
  const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache, maxConcurrent: 1 });
  const planB = { taskDescription: 'cached task B' };
  expect((await agent.execute({ ...planB, executionId: 'b-seed' })).fromCache).toBe(false);

  const controller = new AbortController();
  const generating = new Promise<void>((resolve) => agent.once('generation:start', () => resolve()));
  const settled: string[] = [];
  const slow = agent.execute({ taskDescription: 'slow task A' }, { signal: controller.signal }).then((bundle) => {
    settled.push('A');
    return bundle;
  });
  await generating;
  expect(agent.stats().inFlight).toBe(1);
  const hit = await agent.execute({ ...planB, executionId: 'b-hit' }).then((bundle) => {
    settled.push('B');
    return bundle;
  });

  expect(settled).toEqual(['B']);
  expect(hit.fromCache).toBe(true);
  expect(hit.timings.queuedMs).toBe(0);
  controller.abort();
  expect((await slow).status).toBe('cancelled');
});

// 9 ─────────────────────────────────────────────────────────────────────────────────────────────
test("9. a follower's deadline keeps running when its leader is cancelled (it does not restart)", async () => {
  // The follower (timeoutMs 600) waits 400 ms for a leader that is then cancelled, and takes over.
  // Its own generation would finish 400 ms later (t ≈ 800): after its deadline (t = 600), but
  // before a deadline restarted at the takeover (t ≈ 1,000). No generation may finish.
  let call = 0;
  const finished: number[] = [];
  const generator = new ScriptedCodeGenerator(async (_request, context) => {
    const index = call++;
    await delay(index === 0 ? 60_000 : 400, context.signal);
    finished.push(index);
    return { files: FIXED };
  });
  const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache: false });
  const controller = new AbortController();
  const leader = agent.execute({ ...PLAN, timeoutMs: 60_000 }, { signal: controller.signal });
  const follower = agent.execute({ ...PLAN, timeoutMs: 600 });
  await sleep(400);
  controller.abort();
  const [leaderBundle, followerBundle] = await Promise.all([leader, follower]);

  expect(leaderBundle.status).toBe('cancelled');
  expect(followerBundle.status).toBe('timeout');
  expect(followerBundle.error?.code).toBe('TIMEOUT');
  // The follower did take over (one more generation), and its generation never finished.
  expect(generator.calls).toHaveLength(2);
  expect(finished).toEqual([]);
});

// 10 ────────────────────────────────────────────────────────────────────────────────────────────
test('10. a listener that throws does not starve the listeners after it', async () => {
  const generator = new ScriptedCodeGenerator([{ files: BUGGY }, { files: FIXED }]);
  const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache: false });
  let thrown = 0;
  const heard: number[] = [];
  agent.on('tests:end', () => {
    thrown += 1;
    throw new Error('listener bug');
  });
  agent.on('tests:end', (event) => heard.push(event.iteration));
  const bundle = await agent.execute(PLAN);

  expect(bundle.status).toBe('success');
  expect(thrown).toBe(2);
  expect(heard).toEqual([1, 2]);
});

// 11 ────────────────────────────────────────────────────────────────────────────────────────────
describe('11. budgets hold when usage is incomplete', () => {
  test('a cost budget with an unknown cost stops after iteration 1 with COST_UNKNOWN', async () => {
    const generator = new ScriptedCodeGenerator({ files: BUGGY, usage: { costUsd: null } });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache: false });
    const events = recordEvents(agent);
    const bundle = await agent.execute({ ...PLAN, maxIterations: 5, budget: { maxCostUsd: 0.01 } });

    expect(generator.calls).toHaveLength(1);
    expect(bundle.iterations).toHaveLength(1);
    expect(bundle.stopReason).toBe('cost_budget');
    expect(bundle.usage.costUsd).toBeNull();
    expect(warningCodes(events)).toContain('COST_UNKNOWN');
  });

  test('usage missing one field still counts against maxTokens, with USAGE_INVALID', async () => {
    const calls: number[] = [];
    const generator: CodeGenerator = {
      id: 'partial-usage',
      async generate(request) {
        calls.push(request.iteration);
        // No cacheReadInputTokens.
        const usage = { inputTokens: 600, outputTokens: 500, cacheCreationInputTokens: 0, apiCalls: 1, costUsd: 0 } as unknown as Usage;
        return { files: BUGGY, usage };
      },
    };
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache: false });
    const events = recordEvents(agent);
    const bundle = await agent.execute({ ...PLAN, maxIterations: 5, budget: { maxTokens: 1_000 } });

    expect(calls).toEqual([1]);
    expect(bundle.stopReason).toBe('token_budget');
    expect(bundle.usage.inputTokens).toBe(600);
    expect(bundle.usage.outputTokens).toBe(500);
    expect(warningCodes(events)).toContain('USAGE_INVALID');
  });
});

// 12 ────────────────────────────────────────────────────────────────────────────────────────────
test("12. a caller's AbortSignal.timeout() ends the run as timeout, not cancelled", async () => {
  const runner = new FakeSandboxRunner();
  const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED, delayMs: 5_000 }), runner, cache: false });
  const bundle = await agent.execute(PLAN, { signal: AbortSignal.timeout(50) });

  expect(bundle.status).toBe('timeout');
  expect(bundle.stopReason).toBe('timeout');
  expect(bundle.error?.code).toBe('TIMEOUT');
  expectNoOpenSession(runner);
});

// 13 ────────────────────────────────────────────────────────────────────────────────────────────
describe('13. the sandbox open', () => {
  test('an open that ignores its signal does not stretch the timeout to closeTimeoutMs', { timeout: 10_000 }, async () => {
    const runner = new FakeSandboxRunner({ faults: { open: 'hang-ignoring-signal' } });
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false, closeTimeoutMs: 60_000 });
    const bundle = await agent.execute({ ...PLAN, timeoutMs: 400 });

    expect(bundle.status).toBe('timeout');
    expect(bundle.error?.code).toBe('TIMEOUT');
    expect(runner.opened).toBe(0);
  });

  test('an open that fails with a plain Error stops generation and reports SANDBOX_OPEN_FAILED', { timeout: 4_000 }, async () => {
    let generatorSignal: AbortSignal | undefined;
    const generator = new ScriptedCodeGenerator((_request, context) => {
      generatorSignal = context.signal;
      return { files: FIXED, delayMs: 5_000 };
    });
    const runner: SandboxRunner = {
      id: 'broken',
      async open() {
        await sleep(10);
        throw new Error('quota exceeded');
      },
    };
    const bundle = await new PTCAgent({ generator, runner, cache: false }).execute(PLAN);

    expect(bundle.stopReason).toBe('sandbox_failed');
    expect(bundle.status).toBe('failure');
    expect(bundle.error?.code).toBe('SANDBOX_OPEN_FAILED');
    expect(bundle.error?.message).toContain('quota exceeded');
    expect(generator.calls).toHaveLength(1);
    expect(generatorSignal?.aborted).toBe(true);
  });
});

// 14 ────────────────────────────────────────────────────────────────────────────────────────────
describe('14. the same artifacts get the same status whichever phase failed', () => {
  const failOnSecondRead = () => {
    const inner = new FakeSandboxRunner({ results: judgeCalc });
    let reads = 0;
    const runner = wrapSessions(inner, (session) => ({
      readFile: async (path, options) => {
        if (reads++ === 1) throw new SandboxError('connection reset while reading the report');
        return session.readFile(path, options);
      },
    }));
    return { inner, runner };
  };
  const phases: Array<[string, () => { inner: FakeSandboxRunner; runner: SandboxRunner }]> = [
    ['sync', () => { const inner = new FakeSandboxRunner({ results: judgeCalc, faults: { sync: new Error('disk full') }, faultOnCall: 1 }); return { inner, runner: inner }; }],
    ['run', () => { const inner = new FakeSandboxRunner({ results: judgeCalc, faults: { run: new Error('container died') }, faultOnCall: 1 }); return { inner, runner: inner }; }],
    ['readFile', failOnSecondRead],
  ];

  test.each(phases)('iteration 1 tested red, iteration 2 fails in %s: partial_success with iteration 1', async (_phase, make) => {
    const { inner, runner } = make();
    const generator = new ScriptedCodeGenerator([{ files: BUGGY }, { files: FIXED }]);
    const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, maxIterations: 3 });

    expect(generator.calls).toHaveLength(2);
    expect(bundle.status).toBe('partial_success');
    expect(bundle.stopReason).toBe('sandbox_failed');
    expect(bundle.error?.code).toBe('SANDBOX_FAILED');
    expect(bundle.bestIteration).toBe(1);
    expect(bundle.files.find((file) => file.path === 'calc.py')?.content).toContain('a - b');
    expect(bundle.testReport?.failed).toBe(1);
    expectValidBundle(bundle);
    expectNoOpenSession(inner);
  });

  test('a sandbox failure before any test ran is a failure', async () => {
    const runner = new FakeSandboxRunner({ results: judgeCalc, faults: { sync: new Error('disk full') }, faultOnCall: 0 });
    const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false }).execute(PLAN);

    expect(bundle.stopReason).toBe('sandbox_failed');
    expect(bundle.status).toBe('failure');
    expectNoOpenSession(runner);
  });
});

// 15 ────────────────────────────────────────────────────────────────────────────────────────────
describe('15. text from tests and models stays bounded', () => {
  test('a 100 KB case name is stored in at most 500 characters', async () => {
    const huge = `test_param[${'x'.repeat(100_000)}]`;
    const runner = new FakeSandboxRunner({ results: { passed: ['test_ok'], failed: [{ name: huge, message: 'boom' }] } });
    const generator = new ScriptedCodeGenerator({ files: BUGGY });
    const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, maxIterations: 2 });

    expect(bundle.testReport?.failed).toBe(1);
    for (const testCase of bundle.iterations.flatMap((iteration) => iteration.testReport?.cases ?? [])) expect(testCase.name.length).toBeLessThanOrEqual(500);
    expect(generator.calls[1]?.failures.length).toBeGreaterThan(0);
    for (const failure of generator.calls[1]!.failures) expect(failure.name.length).toBeLessThanOrEqual(500);
    expect(JSON.stringify(bundle).length).toBeLessThan(100_000);
  });

  test('200 nested clashing files give a bounded problem and iteration:end message', async () => {
    // a, a/a, a/a/a, …: every file is also a directory of the next ones.
    const chain = Array.from({ length: 200 }, (_, index) => ({ path: Array.from({ length: index + 1 }, () => 'a').join('/'), content: 'x' }));
    const generator = new ScriptedCodeGenerator([{ files: chain }, { files: FIXED }]);
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner({ results: judgeCalc }), cache: false });
    const events = recordEvents(agent);
    const bundle = await agent.execute(PLAN);

    expect(bundle.iterations[0]?.error?.code).toBe('OUTPUT_REJECTED');
    expect(bundle.iterations[0]?.error?.message).toContain('both a file and a directory');
    expect(bundle.iterations[0]!.error!.message.length).toBeLessThan(10_000);
    const problem = generator.calls[1]?.problem ?? '';
    expect(problem).toContain('both a file and a directory');
    expect(problem.length).toBeLessThan(10_000);
    const ended = events.find((event) => event.name === 'iteration:end' && event.iteration === 1);
    expect(ended?.error?.code).toBe('OUTPUT_REJECTED');
    expect(ended!.error!.message.length).toBeLessThan(10_000);
    expect(bundle.status).toBe('success');
  });

  test('a 3,000-case report keeps at most 2,000 cases with true totals', async () => {
    const passed = Array.from({ length: 2_500 }, (_, index) => `test_pass_${index}`);
    const failed = Array.from({ length: 500 }, (_, index) => `test_fail_${index}`);
    const runner = new FakeSandboxRunner({ results: { passed, failed } });
    const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: BUGGY }), runner, cache: false }).execute({ ...PLAN, maxIterations: 1 });
    const report = bundle.testReport!;

    expect(report.cases.length).toBeLessThanOrEqual(2_000);
    expect(report.passed).toBe(2_500);
    expect(report.failed).toBe(500);
    // Failures are what the model needs: all of them are kept.
    expect(report.cases.filter((testCase) => testCase.status === 'failed')).toHaveLength(500);
  });
});

// 16 ────────────────────────────────────────────────────────────────────────────────────────────
describe('16. a plan field nested 5,000 levels deep is a PlanValidationError, not a RangeError', () => {
  test.each(['architecture', 'metadata'] as const)('%s', async (field) => {
    let deep: Record<string, unknown> = {};
    for (let level = 0; level < 5_000; level += 1) deep = { nested: deep };
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const agent = new PTCAgent({ generator, runner: new FakeSandboxRunner(), cache: new MemoryCache() });
    const plan = field === 'architecture' ? { ...PLAN, architecture: deep } : { ...PLAN, metadata: deep };

    await expect(agent.execute(plan)).rejects.toBeInstanceOf(PlanValidationError);
    expect(generator.calls).toHaveLength(0);
  });
});

// 17 ────────────────────────────────────────────────────────────────────────────────────────────
test("17. a JUnit report over the runner's read limit is a red iteration, not sandbox_failed", async () => {
  const runner = new FakeSandboxRunner({ results: judgeCalc, faults: { readFile: new SandboxError('too big', { code: 'OUTPUT_REJECTED' }) } });
  const generator = new ScriptedCodeGenerator({ files: FIXED });
  const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, maxIterations: 2 });

  expect(bundle.stopReason).not.toBe('sandbox_failed');
  expect(bundle.iterations[0]?.testReport?.success).toBe(false);
  expect(bundle.iterations[0]?.testReport?.problem).toContain('too big');
  expect(bundle.iterations).toHaveLength(2);
  expect(generator.calls).toHaveLength(2);
  expect(bundle.status).toBe('partial_success');
  expect(bundle.stopReason).toBe('max_iterations');
  expectNoOpenSession(runner);
});

// 18 ────────────────────────────────────────────────────────────────────────────────────────────
describe('18. cache keys do not collide', () => {
  const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner(), cache: false });

  test('contexts that differ only in indentation get different keys', () => {
    const code = (indent: string) => `def add(a, b):\n${indent}if a:\n${indent}${indent}return a + b\n${indent}return b\n`;
    // Control: the key is a function of the plan.
    expect(agent.cacheKeyFor({ ...PLAN, context: code('    ') })).toBe(agent.cacheKeyFor({ ...PLAN, context: code('    ') }));
    expect(agent.cacheKeyFor({ ...PLAN, context: code('    ') })).not.toBe(agent.cacheKeyFor({ ...PLAN, context: code('  ') }));
  });

  test('a Date in architecture is refused by the plan schema, or at least does not share the key of {}', () => {
    const keyOf = (architecture: Record<string, unknown>) => {
      try {
        return agent.cacheKeyFor({ ...PLAN, architecture });
      } catch (error) {
        if (error instanceof PlanValidationError) return 'refused';
        throw error;
      }
    };
    const empty = keyOf({ created: {} });
    expect(empty).not.toBe('refused');
    expect(keyOf({ created: new Date('2026-01-01T00:00:00Z') })).not.toBe(empty);
  });
});

// 19 ────────────────────────────────────────────────────────────────────────────────────────────
test('19. an iteration that removes a test file and adds a skip marker is recorded as weakening its tests', async () => {
  const testsV1 = 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_add_zero():\n    assert add(0, 0) == 0\n';
  const testsV2 = 'import pytest\nfrom calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\n@pytest.mark.skip\ndef test_add_zero():\n    assert add(0, 0) == 0\n';
  const extra = 'from calc import add\n\ndef test_add_negative():\n    assert add(-1, -1) == -2\n';
  const generator = new ScriptedCodeGenerator([
    {
      files: [
        { path: 'calc.py', content: BUGGY[0]!.content },
        { path: 'tests/test_calc.py', content: testsV1, kind: 'test' },
        { path: 'tests/test_extra.py', content: extra, kind: 'test' },
      ],
    },
    { files: [{ path: 'calc.py', content: FIXED_CALC }, { path: 'tests/test_calc.py', content: testsV2, kind: 'test' }] },
  ]);
  const runner = new FakeSandboxRunner({
    results: ({ files }) => {
      const adds = files.get('calc.py')?.includes('a + b') ?? false;
      const cases: JUnitCaseInput[] = [
        { name: 'test_add', suite: 'tests.test_calc', status: adds ? 'passed' : 'failed', message: 'assert -1 == 3' },
        { name: 'test_add_zero', suite: 'tests.test_calc', status: files.get('tests/test_calc.py')?.includes('mark.skip') ? 'skipped' : 'passed' },
      ];
      if (files.has('tests/test_extra.py')) cases.push({ name: 'test_add_negative', suite: 'tests.test_extra', status: adds ? 'passed' : 'failed', message: 'assert 0 == -2' });
      return { report: junitXml(cases), exitCode: cases.some((testCase) => testCase.status === 'failed') ? 1 : 0 };
    },
  });
  const agent = new PTCAgent({ generator, runner, cache: false });
  const events = recordEvents(agent);
  const bundle = await agent.execute(PLAN);

  expect(bundle.iterations[0]?.testReport?.passed).toBe(1);
  expect(bundle.iterations[0]?.testReport?.failed).toBe(2);
  expect(bundle.iterations[0]?.integrity).toBeUndefined();
  const integrity = bundle.iterations[1]?.integrity;
  expect(integrity?.removedTestFiles).toEqual(['tests/test_extra.py']);
  expect(integrity?.removedCaseCount).toBe(1);
  expect(integrity?.removedCases.join()).toContain('test_add_negative');
  expect(integrity?.newlySkipped.join()).toContain('test_add_zero');
  expect(integrity?.skipMarkersAdded).toBeGreaterThanOrEqual(1);
  expect(warningCodes(events)).toContain('TESTS_WEAKENED');
  expect(bundle.warnings.join('\n')).toContain('tests/test_extra.py');
  expectValidBundle(bundle);
});
