import { describe, expect, test } from 'vitest';
import type { TestCase } from '../../src/bundle.js';
import {
  buildGenerationPrompt,
  buildPlanPrompt,
  DEFAULT_PROMPT_LIMITS,
  fence,
  resolvePromptLimits,
} from '../../src/generators/prompts.js';
import { parsePlan } from '../../src/plan.js';
import { JAVASCRIPT_NODE_TEST, PYTHON_PYTEST } from '../../src/reports/presets.js';
import { ACCEPTANCE_TEST, firstRequest, refinementRequest } from './fixtures.js';

const OUTPUT = 'Call the deliver tool.';

describe('buildGenerationPrompt', () => {
  test('iteration 1: task, requirements, dependencies, conventions, the test command and the acceptance tests', () => {
    const prompt = buildGenerationPrompt(firstRequest(), { outputInstruction: OUTPUT });
    expect(prompt.plan).toContain('# Task\n\nWrite a calculator module with add and divide.');
    expect(prompt.plan).toContain('1. add(a, b) returns the sum');
    expect(prompt.plan).toContain('2. divide(a, b) raises ZeroDivisionError when b is 0');
    expect(prompt.plan).toContain('numpy>=1.26');
    expect(prompt.plan).toContain(PYTHON_PYTEST.conventions);
    expect(prompt.plan).toContain('Test framework: pytest');
    expect(prompt.plan).toContain(PYTHON_PYTEST.command.join(' '));
    expect(prompt.plan).toContain('### tests/test_acceptance.py');
    expect(prompt.plan).toContain(ACCEPTANCE_TEST);
    expect(prompt.plan).toContain('Never write, rename or change them');
    expect(prompt.instructions).toContain('Iteration 1');
    expect(prompt.instructions.endsWith(OUTPUT)).toBe(true);
    expect(prompt.system).toContain(OUTPUT);
    expect(prompt.system).toContain('complete set of files');
  });

  test('the plan part is the same in every iteration (the cacheable prefix)', () => {
    const one = buildGenerationPrompt(firstRequest(), { outputInstruction: OUTPUT });
    const two = buildGenerationPrompt(refinementRequest(), { outputInstruction: OUTPUT });
    expect(two.system).toBe(one.system);
    expect(two.plan).toBe(one.plan);
    expect(two.instructions).not.toBe(one.instructions);
  });

  test('runners that take file paths are described as such', () => {
    const plan = parsePlan({ taskDescription: 'x', language: 'javascript' });
    const text = buildPlanPrompt(plan, JAVASCRIPT_NODE_TEST, []);
    expect(text).toContain('<the paths of every file of kind "test">');
    expect(text).toContain('No third-party packages are installed');
  });

  test('a refinement quotes the previous files, the report and the failures, and asks for a fix', () => {
    const prompt = buildGenerationPrompt(refinementRequest({ problem: 'tests/x.py was rejected' }), { outputInstruction: OUTPUT });
    expect(prompt.instructions).toContain('### calculator.py (source)');
    expect(prompt.instructions).toContain('return a - b');
    expect(prompt.instructions).toContain('Passed 0, failed 1, errored 0, skipped 0.');
    expect(prompt.instructions).toContain('1. tests.test_calculator › test_add in tests/test_calculator.py: failed');
    expect(prompt.instructions).toContain('assert -1 == 3');
    expect(prompt.instructions).toContain('tests/x.py was rejected');
    expect(prompt.instructions).toContain('Never change an acceptance test');
    expect(prompt.instructions).toContain('give the reason in notes');
  });

  test('a refinement is bounded: failures, messages, output and previous files', () => {
    const failures: TestCase[] = Array.from({ length: 50 }, (_, index) => ({
      name: `test_${index}`,
      status: 'failed',
      message: `${'x'.repeat(10_000)}END${index}`,
    }));
    const request = refinementRequest({
      failures,
      previousFiles: [
        { path: 'small.py', content: 'a = 1\n', kind: 'source' },
        { path: 'huge.py', content: 'b'.repeat(500), kind: 'source' },
      ],
    });
    const report = request.previousReport!;
    const prompt = buildGenerationPrompt(
      { ...request, previousReport: { ...report, stdout: 's'.repeat(50_000) } },
      { outputInstruction: OUTPUT, limits: { maxFailures: 5, maxFailureMessageChars: 300, maxTestOutputChars: 1_000, maxPreviousFilesChars: 100 } },
    );
    expect(prompt.instructions).toContain('Failing tests (5 of 50 shown)');
    expect(prompt.instructions).toContain('END4');
    expect(prompt.instructions).not.toContain('test_5:');
    expect(prompt.instructions).toContain('characters omitted');
    expect(prompt.instructions).toContain('- huge.py (source, 500 characters)');
    expect(prompt.instructions).not.toContain('b'.repeat(500));
    // 5 messages of ≤300 characters, ≤1000 of output, ≤100 of files, plus fixed text.
    expect(prompt.instructions.length).toBeLessThan(5_000);
  });

  test('iteration 2 after a failed generation (no files) restarts with the problem stated', () => {
    const prompt = buildGenerationPrompt(firstRequest({ iteration: 2, problem: 'The previous attempt failed: cut off' }), { outputInstruction: OUTPUT });
    expect(prompt.instructions).toContain('write the code and its tests');
    expect(prompt.instructions).toContain('cut off');
  });

  test('a system prompt override replaces the system part only', () => {
    const prompt = buildGenerationPrompt(firstRequest(), { outputInstruction: OUTPUT, systemPrompt: 'Custom.' });
    expect(prompt.system).toBe('Custom.');
    expect(prompt.instructions).toContain(OUTPUT);
  });
});

describe('helpers', () => {
  test('fence outgrows any backtick run in the content', () => {
    expect(fence('plain')).toBe('```\nplain\n```');
    const quoted = fence('a ```` b', 'md');
    expect(quoted.startsWith('`````md\n')).toBe(true);
    expect(quoted.endsWith('\n`````')).toBe(true);
  });

  test('resolvePromptLimits merges defaults and rejects bad values by name', () => {
    expect(resolvePromptLimits(undefined)).toEqual(DEFAULT_PROMPT_LIMITS);
    expect(resolvePromptLimits({ maxFailures: 3 }).maxFailures).toBe(3);
    expect(() => resolvePromptLimits({ maxTestOutputChars: -1 })).toThrow(/promptLimits\.maxTestOutputChars/);
  });
});

test('the prompt builders are exported from the package root, for anyone writing a generator', async () => {
  const root = await import('../../src/index.js');
  expect(root.buildGenerationPrompt).toBe(buildGenerationPrompt);
  expect(root.buildPlanPrompt).toBe(buildPlanPrompt);
  expect(root.resolvePromptLimits).toBe(resolvePromptLimits);
  expect(root.DEFAULT_PROMPT_LIMITS).toBe(DEFAULT_PROMPT_LIMITS);
  expect(typeof root.buildRetryNote).toBe('function');
  expect(typeof root.buildSystemPrompt).toBe('function');
  expect(typeof root.buildIterationPrompt).toBe('function');
});
