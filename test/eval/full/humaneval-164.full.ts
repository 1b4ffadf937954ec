import { describe, expect, test } from 'vitest';
import { LocalSandboxRunner } from '../../../src/index.js';
import { OfflineCodeGenerator, runEval } from '../../../src/eval/index.js';
import { FAST_PYTEST_ENV, humanEvalSkipReason, humanEvalSuite, skippedSuffix } from '../helpers.js';

/** All 164 problems, each generator once; what the issue asks the harness to prove. */
const runner = new LocalSandboxRunner({ onWarning: () => {} });
const agentOptions = { sandboxEnv: FAST_PYTEST_ENV };

describe(`offline generators on all of HumanEval${skippedSuffix(humanEvalSkipReason)}`, () => {
  test.skipIf(humanEvalSkipReason !== undefined)('reference scores 164/164 held-out', async () => {
    const suite = await humanEvalSuite();
    const report = await runEval({ suite, generator: new OfflineCodeGenerator('reference', suite.problems), runner, concurrency: 2, agentOptions });
    expect(report.rows.filter((row) => !row.heldOutPassed).map((row) => [row.id, row.error ?? row.heldOut.reason])).toEqual([]);
    expect(report.summary).toMatchObject({ evaluated: 164, heldOutPassed: 164, selfGreen: 164, falseGreen: 0 });
    console.log(`reference: ${report.summary.heldOutPassed}/${report.summary.evaluated} held-out, wall ${(report.summary.wallMs / 1000).toFixed(1)} s`);
  });

  test.skipIf(humanEvalSkipReason !== undefined)('repair reaches 164/164 in exactly 2 iterations each', async () => {
    const suite = await humanEvalSuite();
    const report = await runEval({ suite, generator: new OfflineCodeGenerator('repair', suite.problems), runner, concurrency: 2, agentOptions });
    expect(report.rows.filter((row) => !row.heldOutPassed || row.iterations !== 2 || row.iterationsToGreen !== 2).map((row) => [row.id, row.iterations, row.error ?? row.heldOut.reason])).toEqual([]);
    expect(report.summary).toMatchObject({ evaluated: 164, heldOutPassed: 164, selfGreen: 164, meanIterationsToGreen: 2 });
    console.log(`repair: ${report.summary.heldOutPassed}/${report.summary.evaluated} held-out, mean iterations ${report.summary.meanIterationsToGreen}, wall ${(report.summary.wallMs / 1000).toFixed(1)} s`);
  });

  test.skipIf(humanEvalSkipReason !== undefined)('cheat is self-green and held-out red on every problem: false-green 100%', async () => {
    const suite = await humanEvalSuite();
    const report = await runEval({ suite, generator: new OfflineCodeGenerator('cheat', suite.problems), runner, concurrency: 2, agentOptions });
    expect(report.rows.filter((row) => !row.falseGreen).map((row) => [row.id, row.selfGreen, row.heldOutPassed, row.error])).toEqual([]);
    expect(report.summary).toMatchObject({ evaluated: 164, selfGreen: 164, heldOutPassed: 0, falseGreen: 164, falseGreenRate: 1 });
    console.log(`cheat: self-green ${report.summary.selfGreen}/164, held-out ${report.summary.heldOutPassed}/164, false-green rate ${report.summary.falseGreenRate}`);
  });
});
