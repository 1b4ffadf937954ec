import { mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import {
  type ArtifactBundle,
  type GeneratedFileInput,
  GenerationError,
  LocalSandboxRunner,
  MemoryCheckpointStore,
  PTCAgent,
  type PTCEventMap,
  type PlanInput,
  PlanValidationError,
  cacheKey,
  parsePlan,
} from '../../src/index.js';
import { buildGenerationPrompt } from '../../src/generators/prompts.js';
import { type FakeRunContext, FakeSandboxRunner, type FakeTestResult, ScriptedCodeGenerator, sampleGenerationRequest } from '../../src/testing/index.js';
import { recordEvents, settleWithin } from '../faults/harness.js';
import { BUGGY, FIXED, PLAN, expectNoOpenSession, expectValidBundle, judgeCalc } from '../helpers.js';

/**
 * `plan.candidates`: iteration 1 generated n times, each tested in its own sandbox within
 * `maxConcurrent`, the best one going on alone.
 */

/** A project whose calc.py says which candidate wrote it and how it should fare (`passed`/`failed` case counts). */
function project(tag: string, padding = 0): GeneratedFileInput[] {
  return [
    { path: 'calc.py', content: `# ${tag}${' '.repeat(padding)}\ndef add(a, b):\n    return a + b\n` },
    { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
  ];
}

/** A fake test result from the tag in calc.py: `P<passed>F<failed>E<errored>`, e.g. `P2F1E0`. */
function judgeByTag({ files }: FakeRunContext): FakeTestResult {
  const match = /# .*?P(\d+)F(\d+)E(\d+)/.exec(files.get('calc.py') ?? '');
  if (!match) return { errored: ['collection'] };
  const names = (prefix: string, count: number) => Array.from({ length: count }, (_, index) => `${prefix}_${index}`);
  return { passed: names('test_pass', Number(match[1])), failed: names('test_fail', Number(match[2])), errored: names('test_error', Number(match[3])) };
}

/** A generator whose candidate `i` answers `answers[i - 1]`, and later iterations `later`. */
function byCandidate(answers: ReadonlyArray<GeneratedFileInput[] | Error>, later: GeneratedFileInput[] = FIXED, latencyMs = 0): ScriptedCodeGenerator {
  return new ScriptedCodeGenerator(
    (request) => {
      if (request.iteration > 1) return { files: later };
      const answer = answers[(request.candidate?.index ?? 1) - 1]!;
      return answer instanceof Error ? { error: answer } : { files: answer };
    },
    { latencyMs },
  );
}

const chosenOf = (bundle: ArtifactBundle) => bundle.iterations[0]?.candidate;

describe('plan.candidates: validation, identity and n = 1', () => {
  test('defaults to 1; 0, 9, 1.5 and "2" are refused with a clear message', () => {
    expect(parsePlan(PLAN).candidates).toBe(1);
    expect(parsePlan({ ...PLAN, candidates: 8 }).candidates).toBe(8);
    for (const [value, message] of [
      [0, /at least 1/],
      [9, /at most 8/],
      [1.5, /whole number/],
      ['2', /whole number|expected/],
    ] as const) {
      let thrown: unknown;
      try {
        parsePlan({ ...PLAN, candidates: value });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(PlanValidationError);
      const issue = (thrown as PlanValidationError).issues[0]!;
      expect(issue.path).toBe('candidates');
      expect(issue.message).toMatch(message);
    }
  });

  test('the cache key includes candidates above 1, and is unchanged for 1', () => {
    const parts = { generatorId: 'g', testPresetId: 'p' };
    const single = cacheKey(parsePlan(PLAN), parts);
    expect(cacheKey(parsePlan({ ...PLAN, candidates: 1 }), parts)).toBe(single);
    expect(cacheKey(parsePlan({ ...PLAN, candidates: 2 }), parts)).not.toBe(single);
    expect(cacheKey(parsePlan({ ...PLAN, candidates: 2 }), parts)).not.toBe(cacheKey(parsePlan({ ...PLAN, candidates: 3 }), parts));
  });

  test('n = 1 is unchanged: no candidate in requests, events, records or the bundle', async () => {
    const generator = new ScriptedCodeGenerator([{ files: BUGGY }, { files: FIXED }]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const events = recordEvents(agent);
    const bundle = await agent.execute({ ...PLAN, candidates: 1 });
    expect(bundle.status).toBe('success');
    expect(generator.calls.map((call) => 'candidate' in call)).toEqual([false, false]);
    expect(events.some((event) => 'candidate' in (event.payload as object))).toBe(false);
    expect(events.some((event) => event.name === 'candidates:chosen')).toBe(false);
    expect(bundle.iterations.map((entry) => entry.candidate)).toEqual([undefined, undefined]);
    expect('candidates' in bundle).toBe(false);
    expect(runner.opened).toBe(1);
    expectNoOpenSession(runner);
  });

  test('the built-in prompt tells each candidate which one it writes, so answers differ', () => {
    const prompt = (candidate?: { index: number; count: number }) =>
      buildGenerationPrompt({ ...sampleGenerationRequest(), ...(candidate ? { candidate } : {}) }, { outputInstruction: 'call write_files' });
    const first = prompt({ index: 1, count: 3 });
    const second = prompt({ index: 2, count: 3 });
    expect(first.instructions).toContain('Candidate 1 of 3');
    expect(second.instructions).toContain('Candidate 2 of 3');
    expect(second.instructions).toMatch(/different approach/);
    expect(prompt().instructions).not.toContain('Candidate');
    // Only the per-iteration part changes: the cacheable plan part is shared by every candidate.
    expect(first.plan).toBe(second.plan);
  });
});

describe('choosing the best candidate', () => {
  const cases: Array<{ name: string; answers: GeneratedFileInput[][]; chosen: number }> = [
    { name: 'green beats more passing cases', answers: [project('P5F1E0'), project('P1F0E0'), project('P4F0E1')], chosen: 2 },
    { name: 'among greens, the most passing cases win', answers: [project('P1F0E0'), project('P3F0E0'), project('P2F0E0')], chosen: 2 },
    { name: 'among greens, the smallest wins', answers: [project('P1F0E0', 40), project('P1F0E0', 10), project('P1F0E0', 20)], chosen: 2 },
    { name: 'among reds, the most passing cases win', answers: [project('P1F2E0'), project('P3F0E1'), project('P2F1E0')], chosen: 2 },
    { name: 'then fewest failed and errored', answers: [project('P2F1E1'), project('P2F0E1'), project('P2F2E0')], chosen: 2 },
    { name: 'then the smallest', answers: [project('P2F1E0', 30), project('P2F1E0', 30), project('P2F1E0', 5)], chosen: 3 },
    { name: 'a full tie goes to the first', answers: [project('P2F1E0'), project('P2F1E0'), project('P2F1E0')], chosen: 1 },
    {
      name: 'a tested candidate beats a rejected one',
      answers: [[{ path: '../escape.py', content: 'x' }], project('P0F1E0'), [{ path: '/abs.py', content: 'y' }]],
      chosen: 2,
    },
  ];
  test.each(cases)('$name', async ({ answers, chosen }) => {
    const generator = byCandidate(answers, project('P9F0E0'));
    const runner = new FakeSandboxRunner({ results: judgeByTag });
    const agent = new PTCAgent({ generator, runner, cache: false, maxConcurrent: 3 });
    const events = recordEvents(agent);
    const bundle = await agent.execute({ ...PLAN, candidates: 3, maxIterations: 1 });
    expectValidBundle(bundle);
    expect(chosenOf(bundle)).toBe(chosen);
    expect(bundle.files.find((file) => file.path === 'calc.py')?.content).toBe(answers[chosen - 1]!.find((file) => file.path === 'calc.py')?.content);
    expect(events.filter((event) => event.name === 'candidates:chosen').map((event) => (event.payload as PTCEventMap['candidates:chosen']).candidate)).toEqual([chosen]);
    // Every candidate ran (three slots), each in its own sandbox, and all of them are closed.
    expect(bundle.candidates?.map((entry) => entry.candidate)).toEqual([1, 2, 3]);
    expect(runner.opened).toBe(3);
    expectNoOpenSession(runner);
  });
});

describe('the chosen candidate goes on alone', () => {
  test('iteration 2 refines the winner in the winner sandbox; the others were closed before it', async () => {
    let openAtIteration2 = -1;
    const generator = new ScriptedCodeGenerator((request) => {
      if (request.iteration === 2) {
        openAtIteration2 = runner.openSessions;
        return { files: project('P3F0E0') };
      }
      return { files: [project('P1F2E0'), project('P2F1E0'), project('P0F3E0')][request.candidate!.index - 1]! };
    });
    const runner = new FakeSandboxRunner({ results: judgeByTag });
    const agent = new PTCAgent({ generator, runner, cache: false, maxConcurrent: 3 });
    const events = recordEvents(agent);
    const bundle = await agent.execute({ ...PLAN, candidates: 3 });
    expect(bundle.status).toBe('success');
    expect(openAtIteration2).toBe(1);
    const refinement = generator.calls.find((call) => call.iteration === 2)!;
    expect(refinement.candidate).toBeUndefined();
    expect(refinement.previousFiles.find((file) => file.path === 'calc.py')?.content).toContain('P2F1E0');
    expect(refinement.previousReport?.passed).toBe(2);
    // The winner's sandbox ran its test and then iteration 2's; the others one run each.
    const winnerSandbox = runner.sessions.find((session) => session.commands.length === 2);
    expect(winnerSandbox).toBeDefined();
    expect(runner.sessions.filter((session) => session.commands.length === 1)).toHaveLength(2);
    expect(bundle.sandbox?.id).toBe(winnerSandbox!.id);
    expect(bundle.iterations.map((entry) => [entry.iteration, entry.candidate])).toEqual([
      [1, 2],
      [2, undefined],
    ]);
    expect(bundle.bestIteration).toBe(2);
    // Events say which candidate each belongs to; iteration 2's say none.
    for (const name of ['generation:start', 'generation:end', 'tests:start', 'tests:end', 'iteration:end'] as const) {
      const tagged = events.filter((event) => event.name === name).map((event) => [(event.payload as { iteration: number }).iteration, (event.payload as { candidate?: number }).candidate]);
      expect(tagged.filter(([iteration]) => iteration === 1).map(([, candidate]) => candidate).sort()).toEqual([1, 2, 3]);
      expect(tagged.filter(([iteration]) => iteration === 2).map(([, candidate]) => candidate)).toEqual([undefined]);
    }
    expect(events.filter((event) => event.name === 'sandbox:ready').map((event) => (event.payload as { candidate?: number }).candidate).sort()).toEqual([2, 3, undefined]);
    const chosenAt = events.findIndex((event) => event.name === 'candidates:chosen');
    expect(events.findIndex((event) => event.name === 'generation:start' && (event.payload as { iteration: number }).iteration === 2)).toBeGreaterThan(chosenAt);
    // The bundle keeps every candidate's record and report; usage counts all of them.
    expect(bundle.candidates?.map((entry) => [entry.candidate, entry.testReport?.passed])).toEqual([
      [1, 1],
      [2, 2],
      [3, 0],
    ]);
    expect(bundle.usage.apiCalls).toBe(4);
    const counted = [...bundle.candidates!, bundle.iterations[1]!].reduce((sum, entry) => sum + entry.usage.inputTokens, 0);
    expect(bundle.usage.inputTokens).toBe(counted);
    expectValidBundle(bundle);
    expectNoOpenSession(runner);
  });

  test('a green candidate ends the run at iteration 1; maxIterations counts the candidates as one iteration', async () => {
    const generator = byCandidate([BUGGY, FIXED]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const bundle = await agent.execute({ ...PLAN, candidates: 2, maxIterations: 1 });
    expect(bundle.status).toBe('success');
    expect(bundle.bestIteration).toBe(1);
    expect(bundle.iterations).toHaveLength(1);
    expect(chosenOf(bundle)).toBe(2);
    expectNoOpenSession(runner);
  });

  test('candidates that all fail to generate: the loop goes on with the problem; a non-retryable failure of every one ends the run', async () => {
    const retry = byCandidate([new Error('flaky one'), new Error('flaky two')], FIXED);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator: retry, runner, cache: false }).execute({ ...PLAN, candidates: 2 });
    expect(bundle.status).toBe('success');
    expect(retry.calls.find((call) => call.iteration === 2)?.problem).toMatch(/flaky one/);
    expect(bundle.candidates?.map((entry) => entry.error?.code)).toEqual(['GENERATION_FAILED', 'GENERATION_FAILED']);

    const fatal = byCandidate([new GenerationError('bad key', { retryable: false }), new GenerationError('bad key', { retryable: false })]);
    const second = new FakeSandboxRunner({ results: judgeCalc });
    const ended = await new PTCAgent({ generator: fatal, runner: second, cache: false }).execute({ ...PLAN, candidates: 2 });
    expect(ended.stopReason).toBe('generation_failed');
    expect(fatal.calls.every((call) => call.iteration === 1)).toBe(true);
    expectNoOpenSession(runner);
    expectNoOpenSession(second);
  });

  test('testing disabled: the clean, smallest candidate is returned', async () => {
    const generator = byCandidate([project('big', 50), project('small'), [{ path: '../x.py', content: 'x' }]]);
    const runner = new FakeSandboxRunner();
    const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, candidates: 3, enableTesting: false });
    expect(bundle.stopReason).toBe('testing_disabled');
    expect(chosenOf(bundle)).toBe(2);
    expect(runner.opened).toBe(0);
  });
});

describe('budgets count every candidate', () => {
  test('the token budget stops the run after the candidates when together they used it up', async () => {
    // 150 tokens a call: three candidates use 450 of 400.
    const generator = byCandidate([BUGGY, BUGGY, BUGGY]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, candidates: 3, budget: { maxTokens: 400 } });
    expect(bundle.stopReason).toBe('token_budget');
    expect(bundle.usage.apiCalls).toBe(3);
    expect(bundle.usage.inputTokens + bundle.usage.outputTokens).toBe(450);
    expect(generator.calls.every((call) => call.iteration === 1)).toBe(true);
    expectNoOpenSession(runner);
  });

  test('a candidate waiting for a slot is not started once the budget is used up; each is told what is left', async () => {
    const generator = byCandidate([BUGGY, BUGGY, BUGGY, BUGGY]);
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner, cache: false, maxConcurrent: 1 }).execute({ ...PLAN, candidates: 4, budget: { maxTokens: 250 } });
    expect(bundle.stopReason).toBe('token_budget');
    expect(generator.calls.map((call) => [call.candidate?.index, call.remainingTokens])).toEqual([
      [1, 250],
      [2, 100],
    ]);
    expect(bundle.candidates?.map((entry) => entry.candidate)).toEqual([1, 2]);
    expectNoOpenSession(runner);
  });

  test('a cost budget counts every candidate too', async () => {
    const generator = new ScriptedCodeGenerator((request) => ({ files: request.iteration === 1 ? BUGGY : FIXED, usage: { costUsd: 0.01 } }));
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, candidates: 3, budget: { maxCostUsd: 0.025 } });
    expect(bundle.stopReason).toBe('cost_budget');
    expect(bundle.usage.costUsd).toBeCloseTo(0.03);
  });
});

describe('slots: candidates run within maxConcurrent', () => {
  /** Counts generations and open sessions at once, their peaks included. */
  function watched(maxConcurrent: number, candidates: number, runs = 1) {
    let generating = 0;
    let peakGenerating = 0;
    let peakOpen = 0;
    const runner = new FakeSandboxRunner({ results: judgeCalc, runLatencyMs: 20, openLatencyMs: 5 });
    const open = runner.open.bind(runner);
    runner.open = async (spec) => {
      const session = await open(spec);
      peakOpen = Math.max(peakOpen, runner.openSessions);
      return session;
    };
    const generator = new ScriptedCodeGenerator(async (request) => {
      generating += 1;
      peakGenerating = Math.max(peakGenerating, generating);
      await new Promise((resolve) => setTimeout(resolve, 30));
      generating -= 1;
      return { files: request.iteration === 1 ? BUGGY : FIXED };
    });
    const agent = new PTCAgent({ generator, runner, cache: false, maxConcurrent });
    const plans = Array.from({ length: runs }, (_, index): PlanInput => ({ ...PLAN, taskDescription: `${PLAN.taskDescription} ${index}`, candidates }));
    return { agent, runner, generator, plans, peaks: () => ({ generating: peakGenerating, open: peakOpen }) };
  }

  test('maxConcurrent 1: no deadlock; the candidates run one after another in the run sandbox', async () => {
    const { agent, runner, generator, plans, peaks } = watched(1, 3);
    const bundle = await settleWithin(agent.execute(plans[0]!), 10_000, 'a run with 3 candidates and one slot');
    expect(bundle.status).toBe('success');
    expect(bundle.candidates).toHaveLength(3);
    expect(peaks()).toEqual({ generating: 1, open: 1 });
    expect(runner.opened).toBe(1);
    expect(runner.sessions[0]!.commands).toHaveLength(4);
    expect(generator.calls.map((call) => call.candidate?.index)).toEqual([1, 2, 3, undefined]);
    expectNoOpenSession(runner);
  });

  test('maxConcurrent 2 with 4 candidates: two at a time, never more than two sandboxes', async () => {
    const { agent, runner, plans, peaks } = watched(2, 4);
    const bundle = await settleWithin(agent.execute(plans[0]!), 10_000, 'a run with 4 candidates and two slots');
    expect(bundle.candidates).toHaveLength(4);
    expect(peaks()).toEqual({ generating: 2, open: 2 });
    expect(runner.opened).toBe(2);
    expectNoOpenSession(runner);
  });

  test('three runs with 3 candidates each on 2 slots: all finish, slots bound sandboxes and generations throughout', async () => {
    const { agent, runner, plans, peaks } = watched(2, 3, 3);
    const bundles = await settleWithin(Promise.all(plans.map((plan) => agent.execute(plan))), 20_000, 'three runs');
    expect(bundles.map((bundle) => bundle.status)).toEqual(['success', 'success', 'success']);
    expect(peaks().open).toBeLessThanOrEqual(2);
    expect(peaks().generating).toBeLessThanOrEqual(2);
    expect(agent.stats()).toMatchObject({ inFlight: 0, queued: 0 });
    expectNoOpenSession(runner);
  });

  test('a slot another run holds is not taken: the candidates share the run own slot and sandbox', async () => {
    let unblock!: () => void;
    const blocked = new Promise<void>((resolve) => {
      unblock = resolve;
    });
    let started = 0;
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const generator = new ScriptedCodeGenerator(async (request) => {
      if (request.plan.taskDescription.startsWith('blocker')) await blocked;
      started += 1;
      return { files: FIXED };
    });
    const agent = new PTCAgent({ generator, runner, cache: false, maxConcurrent: 2 });
    const blocker = agent.execute({ taskDescription: 'blocker', candidates: 1 });
    const first = agent.execute({ ...PLAN, candidates: 3 });
    const bundle = await settleWithin(first, 5_000, 'the run with candidates');
    // One slot was the blocker's: the candidates shared the other.
    expect(runner.openSpecs.filter((spec) => spec.executionId === bundle.executionId)).toHaveLength(1);
    unblock();
    await blocker;
    expect(started).toBeGreaterThan(0);
    expectNoOpenSession(runner);
  });
});

describe('abort, timeout and failures during the candidates', () => {
  test('the caller aborts while every candidate generates: cancelled, every sandbox closed, nothing after run:end', async () => {
    const runner = new FakeSandboxRunner({ results: judgeCalc });
    const generator = new ScriptedCodeGenerator({ files: FIXED }, { latencyMs: 60_000 });
    const agent = new PTCAgent({ generator, runner, cache: false, maxConcurrent: 4 });
    const events = recordEvents(agent);
    const controller = new AbortController();
    let started = 0;
    agent.on('generation:start', () => {
      started += 1;
      if (started === 4) setTimeout(() => controller.abort(), 20);
    });
    const bundle = await settleWithin(agent.execute({ ...PLAN, candidates: 4 }, { signal: controller.signal }), 5_000, 'the aborted run');
    expect(bundle.status).toBe('cancelled');
    await agent.close();
    expect(runner.opened).toBe(4);
    expectNoOpenSession(runner);
    expect(events.at(-1)?.name).toBe('run:end');
    expect(agent.stats()).toMatchObject({ inFlight: 0 });
  });

  test('the run times out while the candidates test: timeout, every sandbox closed', async () => {
    const runner = new FakeSandboxRunner({ results: judgeCalc, faults: { run: 'hang' } });
    const generator = byCandidate([BUGGY, BUGGY, BUGGY]);
    const agent = new PTCAgent({ generator, runner, cache: false });
    const bundle = await settleWithin(agent.execute({ ...PLAN, candidates: 3, timeoutMs: 300 }), 5_000, 'the timed-out run');
    expect(bundle.stopReason).toBe('timeout');
    await agent.close();
    expect(runner.opened).toBe(3);
    expectNoOpenSession(runner);
  });

  test('an abort while the sandboxes are still opening (opens that ignore their signal): each is closed when it lands', async () => {
    const runner = new FakeSandboxRunner({ results: judgeCalc, openLatencyMs: 1_000 });
    const open = runner.open.bind(runner);
    runner.open = (spec) => open({ ...spec, signal: new AbortController().signal });
    const generator = new ScriptedCodeGenerator({ files: FIXED });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const controller = new AbortController();
    agent.on('generation:end', () => controller.abort());
    const bundle = await settleWithin(agent.execute({ ...PLAN, candidates: 3 }, { signal: controller.signal }), 5_000, 'the aborted run');
    expect(bundle.status).toBe('cancelled');
    expect(runner.opened).toBe(0);
    await settleWithin(agent.close(), 5_000, 'close()');
    expect(runner.opened).toBe(3);
    expectNoOpenSession(runner);
  });

  test('a sandbox failure in one candidate ends the run once the others settle; nothing stays open', async () => {
    const runner = new FakeSandboxRunner({ results: judgeCalc, faults: { run: new Error('the sandbox died') }, faultOnCall: 0 });
    const generator = byCandidate([BUGGY, BUGGY], FIXED, 10);
    const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, candidates: 2 });
    expect(bundle.stopReason).toBe('sandbox_failed');
    expectValidBundle(bundle);
    expectNoOpenSession(runner);
  });
});

describe('checkpoints', () => {
  test('a run interrupted in iteration 2 resumes from the chosen candidate, without generating candidates again', async () => {
    const store = new MemoryCheckpointStore();
    const controller = new AbortController();
    const first = new ScriptedCodeGenerator((request) => {
      if (request.iteration === 2) controller.abort();
      return { files: [project('P0F2E0'), project('P1F1E0'), project('P0F0E2')][(request.candidate?.index ?? 1) - 1]! };
    });
    const a = new PTCAgent({ generator: first, runner: new FakeSandboxRunner({ results: judgeByTag }), checkpoints: store, cache: false });
    const interrupted = await a.execute({ ...PLAN, executionId: 'candidates-resume', candidates: 3 }, { signal: controller.signal });
    expect(interrupted.status).toBe('cancelled');
    await a.close();

    const second = new ScriptedCodeGenerator({ files: project('P2F0E0') });
    const runner = new FakeSandboxRunner({ results: judgeByTag });
    const b = new PTCAgent({ generator: second, runner, checkpoints: store, cache: false });
    const bundle = await b.resume('candidates-resume');
    expect(bundle.status).toBe('success');
    expect(second.calls.map((call) => [call.iteration, call.candidate])).toEqual([[2, undefined]]);
    expect(second.calls[0]!.previousFiles.find((file) => file.path === 'calc.py')?.content).toContain('P1F1E0');
    expect(bundle.iterations.map((entry) => entry.candidate)).toEqual([2, undefined]);
    expect(bundle.candidates?.map((entry) => entry.candidate)).toEqual([1, 2, 3]);
    // Three candidates, then iteration 2 here (the one interrupted there was not paid for in the record).
    expect(bundle.usage.apiCalls).toBe(4);
    expect(runner.opened).toBe(1);
    expectValidBundle(bundle);
    expectNoOpenSession(runner);
    await b.close();
  });
});

describe('with the real local runner and real pytest', () => {
  const root = mkdtempSync(join(tmpdir(), 'ptc-candidates-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  test('three different candidates: the passing one is kept, every workspace removed', async () => {
    const tests = 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_zero():\n    assert add(0, 0) == 0\n';
    const answers: GeneratedFileInput[][] = [
      [
        { path: 'calc.py', content: 'def add(a, b):\n    return a * b\n' },
        { path: 'tests/test_calc.py', content: tests, kind: 'test' },
      ],
      [
        { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
        { path: 'tests/test_calc.py', content: tests, kind: 'test' },
      ],
      [
        { path: 'calc.py', content: 'def add(a, b) return a + b\n' },
        { path: 'tests/test_calc.py', content: tests, kind: 'test' },
      ],
    ];
    const workspaceRoot = join(root, 'workspaces');
    const runner = new LocalSandboxRunner({ isolation: 'none', workspaceRoot, cacheDirectory: join(root, 'deps'), onWarning: () => {} });
    const agent = new PTCAgent({ generator: byCandidate(answers), runner, cache: false, maxConcurrent: 3 });
    const bundle = await agent.execute({ taskDescription: 'add two numbers in calc.py, with pytest tests', candidates: 3, maxIterations: 1, timeoutMs: 60_000 });
    expect(bundle.status, JSON.stringify(bundle.error)).toBe('success');
    expect(chosenOf(bundle)).toBe(2);
    expect(bundle.candidates?.map((entry) => [entry.candidate, entry.testReport?.passed, entry.testReport?.success])).toEqual([
      [1, 1, false],
      [2, 2, true],
      [3, 0, false],
    ]);
    expect(new Set(bundle.candidates?.map((entry) => entry.testReport?.command)).size).toBe(1);
    await agent.close();
    expect(readdirSync(workspaceRoot)).toEqual([]);
  }, 60_000);

  /** Processes whose working directory is under `root` (a run's pytest and anything it started). */
  function processesUnder(root: string): string[] {
    const found: string[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readlinkSync(`/proc/${entry}/cwd`).startsWith(root)) found.push(entry);
      } catch {
        // Gone while we looked, or not ours to read.
      }
    }
    return found;
  }

  test('the caller aborts while three candidates run pytest: cancelled, no process and no workspace left', async () => {
    const sleeping: GeneratedFileInput[] = [
      { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
      { path: 'tests/test_calc.py', content: 'import time\n\ndef test_slow():\n    time.sleep(600)\n', kind: 'test' },
    ];
    const workspaceRoot = join(root, 'abort-workspaces');
    const runner = new LocalSandboxRunner({ isolation: 'none', workspaceRoot, cacheDirectory: join(root, 'deps'), onWarning: () => {} });
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: sleeping }), runner, cache: false, maxConcurrent: 3, closeTimeoutMs: 10_000 });
    const controller = new AbortController();
    let testing = 0;
    let running: string[] = [];
    agent.on('tests:start', () => {
      testing += 1;
      if (testing === 3)
        setTimeout(() => {
          running = processesUnder(workspaceRoot);
          controller.abort();
        }, 1_000);
    });
    const bundle = await settleWithin(
      agent.execute({ taskDescription: 'a slow test', candidates: 3, maxIterations: 1, timeoutMs: 60_000 }, { signal: controller.signal }),
      30_000,
      'the aborted run',
    );
    expect(bundle.status).toBe('cancelled');
    // The check sees what it should: pytest was running in the candidates' workspaces.
    expect(running.length).toBeGreaterThanOrEqual(3);
    await agent.close();
    expect(processesUnder(workspaceRoot), 'processes left behind').toEqual([]);
    expect(readdirSync(workspaceRoot), 'workspaces left behind').toEqual([]);
  }, 60_000);
});
