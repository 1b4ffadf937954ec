import { describe, expect, test } from 'vitest';
import { booleanOption, integerAtLeast, nonNegativeInteger, positiveInteger } from '../../src/internal/validate.js';
import { DaytonaSandboxRunner } from '../../src/runners/daytona.js';
import { LocalSandboxRunner } from '../../src/runners/local.js';
import { PTCAgent } from '../../src/agent.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';

describe('option validators', () => {
  test('integerAtLeast: undefined takes the default; anything not a safe integer at least the minimum is refused, by name', () => {
    expect(integerAtLeast('size', undefined, 7, 3)).toBe(7);
    expect(integerAtLeast('size', 3, 7, 3)).toBe(3);
    for (const bad of [2, 3.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '4', null]) {
      expect(() => integerAtLeast('size', bad, 7, 3)).toThrow(/^size must be an integer ≥ 3, got /);
    }
    expect(() => positiveInteger('count', 0, 1)).toThrow('count must be a positive integer, got 0');
    expect(() => nonNegativeInteger('retries', -1, 1)).toThrow('retries must be a non-negative integer, got -1');
  });

  test('booleanOption refuses what is not a boolean', () => {
    expect(booleanOption('flag', undefined, true)).toBe(true);
    expect(booleanOption('flag', false, true)).toBe(false);
    expect(() => booleanOption('flag', 'yes', true)).toThrow('flag must be a boolean, got yes');
  });

  test('adapters use them: the same messages from the agent and the Daytona runner', () => {
    expect(() => new DaytonaSandboxRunner({ apiKey: 'k', retries: -1 })).toThrow('DaytonaSandboxRunner: retries must be a non-negative integer, got -1');
    expect(() => new DaytonaSandboxRunner({ apiKey: 'k', maxOutputBytes: 10 })).toThrow('DaytonaSandboxRunner: maxOutputBytes must be an integer ≥ 64, got 10');
    expect(() => new DaytonaSandboxRunner({ apiKey: 'k', dependencySnapshots: 'no' as never })).toThrow('DaytonaSandboxRunner: dependencySnapshots must be a boolean, got no');
    expect(() => new LocalSandboxRunner({ warmPython: 'yes' as never })).toThrow('LocalSandboxRunner: options.warmPython must be a boolean, got yes');
    expect(() => new LocalSandboxRunner({ warmNode: 1 as never })).toThrow('LocalSandboxRunner: options.warmNode must be a boolean, got 1');
    const parts = { generator: new ScriptedCodeGenerator({ files: [] }), runner: new FakeSandboxRunner() };
    expect(() => new PTCAgent({ ...parts, testOutput: { maxCharsPerEvent: 99 } })).toThrow('testOutput.maxCharsPerEvent must be an integer ≥ 100, got 99');
  });
});
