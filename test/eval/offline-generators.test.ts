import { describe, expect, test } from 'vitest';
import { LocalSandboxRunner } from '../../src/index.js';
import { loadSuite, OfflineCodeGenerator, runEval, type EvalProblem, type Suite } from '../../src/eval/index.js';
import type { CodeGenerator, GenerationRequest } from '../../src/index.js';
import { dataSkipReason, FAST_PYTEST_ENV, humanEvalSkipReason, humanEvalSuite, MBPP_GENERIC_PATH, skippedSuffix } from './helpers.js';

/**
 * The three offline generators prove the harness on real problems, real pytest and the real
 * local runner (bubblewrap where it exists). 21 problems spread over the whole of HumanEval
 * (every eighth) keep the default run short; `npm run test:eval-full` runs all 164.
 */
const EVERY = 8;
const runner = new LocalSandboxRunner({ onWarning: () => {} });
const agentOptions = { sandboxEnv: FAST_PYTEST_ENV };

async function sample(): Promise<Suite> {
  const suite = await humanEvalSuite();
  return { ...suite, problems: suite.problems.filter((_, index) => index % EVERY === 0) };
}

/** Records every request, so a test can prove what the model was (not) shown. */
class Recording implements CodeGenerator {
  readonly requests: GenerationRequest[] = [];
  constructor(private readonly inner: CodeGenerator) {}
  get id() {
    return this.inner.id;
  }
  generate(request: GenerationRequest, context: Parameters<CodeGenerator['generate']>[1]) {
    this.requests.push(request);
    return this.inner.generate(request, context);
  }
}

describe(`offline generators on ${Math.ceil(164 / EVERY)} HumanEval problems${skippedSuffix(humanEvalSkipReason)}`, { timeout: 180_000 }, () => {
  test.skipIf(humanEvalSkipReason !== undefined)('reference: every problem passes held-out, green in one iteration', async () => {
    const suite = await sample();
    const generator = new Recording(new OfflineCodeGenerator('reference', suite.problems));
    const report = await runEval({ suite, generator, runner, concurrency: 2, agentOptions });
    expect(report.rows.filter((row) => !row.heldOutPassed).map((row) => [row.id, row.error ?? row.heldOut.reason])).toEqual([]);
    expect(report.summary).toMatchObject({ evaluated: 21, heldOutPassed: 21, passAt1: 1, selfGreen: 21, falseGreen: 0, falseGreenRate: 0, meanIterationsToGreen: 1, totalTokens: 0, costUsd: 0, notRun: 0 });
    expect(report.complete).toBe(true);
    // Held-out means held out: no request carried the suite's test, as a file or in the text.
    for (const request of generator.requests) {
      expect(request.plan.acceptanceTests).toEqual([]);
      expect(JSON.stringify(request.plan)).not.toContain('def check(candidate)');
    }
  });

  test.skipIf(humanEvalSkipReason !== undefined)('repair: red in iteration 1, green in exactly 2, every problem passes held-out', async () => {
    const suite = await sample();
    const generator = new OfflineCodeGenerator('repair', suite.problems);
    const report = await runEval({ suite, generator, runner, concurrency: 2, agentOptions });
    expect(report.rows.map((row) => [row.id, row.iterations, row.iterationsToGreen, row.heldOutPassed])).toEqual(
      suite.problems.map((problem) => [problem.id, 2, 2, true]),
    );
    expect([...generator.calls.values()].every((calls) => calls === 2)).toBe(true);
    expect(report.summary).toMatchObject({ heldOutPassed: 21, selfGreen: 21, falseGreen: 0, meanIterationsToGreen: 2 });
  });

  test.skipIf(humanEvalSkipReason !== undefined)('cheat: green on its own test and red held-out on every problem, a false-green rate of 100%', async () => {
    const suite = await sample();
    const report = await runEval({ suite, generator: new OfflineCodeGenerator('cheat', suite.problems), runner, concurrency: 2, agentOptions });
    expect(report.rows.map((row) => [row.id, row.selfGreen, row.heldOutPassed, row.falseGreen])).toEqual(suite.problems.map((problem) => [problem.id, true, false, true]));
    expect(report.rows.every((row) => row.error === undefined && (row.heldOut.failed > 0 || row.heldOut.errored > 0))).toBe(true);
    expect(report.summary).toMatchObject({ heldOutPassed: 0, passAt1: 0, selfGreen: 21, selfGreenRate: 1, falseGreen: 21, falseGreenRate: 1 });
  });

  test.skipIf(humanEvalSkipReason !== undefined)('acceptance mode gives the suite test to the model: the cheat is no longer green, the reference still is', async () => {
    const suite = await sample();
    const few: Suite = { ...suite, problems: suite.problems.slice(0, 4) };
    const cheat = new Recording(new OfflineCodeGenerator('cheat', few.problems));
    const cheated = await runEval({ suite: few, generator: cheat, runner, mode: 'acceptance', maxIterations: 1, concurrency: 2, agentOptions });
    expect(cheated.summary).toMatchObject({ evaluated: 4, selfGreen: 0, heldOutPassed: 0, falseGreen: 0 });
    expect(cheat.requests.every((request) => request.plan.acceptanceTests.length === 1 && request.plan.acceptanceTests[0]!.path === 'test_solution.py')).toBe(true);
    const reference = await runEval({ suite: few, generator: new OfflineCodeGenerator('reference', few.problems), runner, mode: 'acceptance', concurrency: 2, agentOptions });
    expect(reference.summary).toMatchObject({ evaluated: 4, selfGreen: 4, heldOutPassed: 4 });
  });
});

const mbppSkipReason = dataSkipReason(MBPP_GENERIC_PATH);
describe(`a generic-format suite end to end (MBPP)${skippedSuffix(mbppSkipReason)}`, { timeout: 120_000 }, () => {
  test.skipIf(mbppSkipReason !== undefined)('reference passes and cheat is a false green on 5 MBPP problems', async () => {
    const suite = await loadSuite(MBPP_GENERIC_PATH);
    const few: Suite = { ...suite, problems: suite.problems.filter((_, index) => index % 90 === 0) };
    expect(few.problems).toHaveLength(5);
    const reference = await runEval({ suite: few, generator: new OfflineCodeGenerator('reference', few.problems), runner, concurrency: 2, agentOptions });
    expect(reference.rows.filter((row) => !row.heldOutPassed).map((row) => [row.id, row.heldOut.reason])).toEqual([]);
    const cheat = await runEval({ suite: few, generator: new OfflineCodeGenerator('cheat', few.problems), runner, concurrency: 2, agentOptions });
    expect(cheat.summary).toMatchObject({ selfGreen: 5, heldOutPassed: 0, falseGreenRate: 1 });
  });
});

test('an offline generator refuses a plan it does not know, and one without a reference', async () => {
  const problem: EvalProblem = { id: 'x', prompt: 'p', language: 'python', test: 't', solutionPath: 'solution.py', testPath: 'test_solution.py', dependencies: [] };
  const generator = new OfflineCodeGenerator('reference', [problem]);
  const context = { signal: new AbortController().signal, onProgress: () => {} };
  const request = (problemId: string) => ({ plan: { metadata: { ptcEval: { problemId } } }, iteration: 1 }) as unknown as GenerationRequest;
  await expect(generator.generate(request('other'), context)).rejects.toMatchObject({ code: 'GENERATION_FAILED', retryable: false });
  await expect(generator.generate(request('x'), context)).rejects.toThrow(/has no reference solution/);
  // The cheat needs no reference.
  await expect(new OfflineCodeGenerator('cheat', [problem]).generate(request('x'), context)).resolves.toMatchObject({ files: expect.any(Array) });
});
