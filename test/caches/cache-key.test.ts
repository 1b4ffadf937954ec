import { describe, expect, test } from 'vitest';
import { CACHE_FORMAT_VERSION, cacheKey, canonicalPlan } from '../../src/cache-key.js';
import { canonicalJson } from '../../src/internal/canonical-json.js';
import { sha256 } from '../../src/internal/files.js';
import { parsePlan, type PlanInput } from '../../src/plan.js';

const parts = { generatorId: 'anthropic:claude-x', testPresetId: 'pytest' };

const base: PlanInput = {
  taskDescription: 'Write a calculator with add and subtract',
  requirements: ['add two numbers', 'subtract two numbers', 'raise on non-numbers'],
  dependencies: ['pytest', 'numpy>=1.26'],
  language: 'python',
  context: 'Used by the billing service',
  acceptanceTests: [
    { path: 'tests/test_b.py', content: 'def test_b(): pass\n' },
    { path: 'tests/test_a.py', content: 'def test_a(): pass\n' },
  ],
};

const keyOf = (input: PlanInput, keyParts = parts) => cacheKey(parsePlan(input), keyParts);

describe('cacheKey', () => {
  test('has the form ptc:v<format>:<sha256>', () => {
    expect(keyOf(base)).toMatch(new RegExp(`^ptc:v${CACHE_FORMAT_VERSION}:[0-9a-f]{64}$`));
  });

  test('is stable for the same plan', () => {
    expect(keyOf(base)).toBe(keyOf(structuredClone(base)));
  });

  test('ignores the order of requirements, dependencies and acceptance tests', () => {
    const reordered: PlanInput = {
      ...base,
      requirements: [...base.requirements!].reverse(),
      dependencies: [...base.dependencies!].reverse(),
      acceptanceTests: [...base.acceptanceTests!].reverse(),
    };
    expect(keyOf(reordered)).toBe(keyOf(base));
  });

  test('ignores runs of whitespace in prose, and surrounding blanks and line endings of context', () => {
    const spaced: PlanInput = {
      ...base,
      taskDescription: '  Write a   calculator\nwith add\tand subtract  ',
      requirements: ['add  two numbers ', '\nsubtract two numbers', 'raise   on non-numbers'],
      context: '\r\n' + base.context!.replaceAll('\n', '\r\n') + '  \n',
    };
    expect(keyOf(spaced)).toBe(keyOf(base));
  });

  test('indentation in context is code and changes the key; so does a different architecture value', () => {
    const code = 'def f():\n    return 1\n    # one block';
    const other = 'def f():\n    return 1\n# not in the block';
    expect(keyOf({ ...base, context: code })).not.toBe(keyOf({ ...base, context: other }));
    expect(keyOf({ ...base, architecture: { snippet: 'if x:\n    y()' } })).not.toBe(keyOf({ ...base, architecture: { snippet: 'if x:\n  y()' } }));
  });

  test('a Date (or any non-JSON value) in architecture is refused, not serialised to {}', () => {
    expect(() => keyOf({ ...base, architecture: { when: new Date(0) } })).toThrow(/only JSON values/);
    expect(() => keyOf({ ...base, architecture: { when: new Map() } })).toThrow(/only JSON values/);
  });

  test('ignores duplicate requirements', () => {
    expect(keyOf({ ...base, requirements: [...base.requirements!, 'add two numbers'] })).toBe(keyOf(base));
  });

  test('ignores the execution id, metadata, budgets, timeouts, iteration limit and cache settings', () => {
    const noisy: PlanInput = {
      ...base,
      executionId: 'run-42',
      metadata: { user: 'alice', traceId: 'abc' },
      budget: { maxTokens: 10_000 },
      timeoutMs: 60_000,
      maxIterations: 5,
      cacheStrategy: 'always',
      cacheTtlMs: 5,
    };
    expect(keyOf(noisy)).toBe(keyOf(base));
  });

  test.each<[string, PlanInput]>([
    ['task', { ...base, taskDescription: 'Write a calculator with multiply' }],
    ['requirement', { ...base, requirements: ['add two numbers'] }],
    ['dependency', { ...base, dependencies: ['pytest'] }],
    ['dependency version', { ...base, dependencies: ['pytest', 'numpy>=2'] }],
    ['language', { ...base, language: 'javascript' }],
    ['context', { ...base, context: 'Used by the shop' }],
    ['acceptance test content', { ...base, acceptanceTests: [{ path: 'tests/test_a.py', content: 'def test_a(): assert 0\n' }] }],
    ['enableTesting', { ...base, enableTesting: false }],
    ['architecture', { ...base, architecture: { layers: ['api'] } }],
    ['fileStructure', { ...base, fileStructure: { 'calc.py': 'the calculator' } }],
  ])('changes with the %s', (_label, changed) => {
    expect(keyOf(changed)).not.toBe(keyOf(base));
  });

  test('whitespace inside a word boundary still matters (only runs collapse)', () => {
    expect(keyOf({ ...base, taskDescription: 'Write a calc ulator with add and subtract' })).not.toBe(keyOf(base));
  });

  test('changes with the generator id and the test preset id', () => {
    const key = keyOf(base);
    expect(keyOf(base, { ...parts, generatorId: 'anthropic:claude-y' })).not.toBe(key);
    expect(keyOf(base, { ...parts, testPresetId: 'pytest-xdist' })).not.toBe(key);
  });

  test('is the sha256 of the canonical JSON of format, generator, preset and canonical plan, as in earlier releases', () => {
    // Nested free-form keys out of order, and every optional field set: the fast path must write
    // exactly what sorting the whole value writes, or every stored entry would miss.
    const full: PlanInput = {
      ...base,
      architecture: { zeta: { b: 1, a: [{ y: 2, x: 1 }] }, alpha: 'if x:\n    y()' },
      fileStructure: { 'z.py': 'last', 'a.py': 'first' },
      candidates: 3,
    };
    for (const input of [base, full]) {
      const plan = parsePlan(input);
      const generic = sha256(canonicalJson({ format: CACHE_FORMAT_VERSION, generator: parts.generatorId, testPreset: parts.testPresetId, plan: canonicalPlan(plan) }));
      expect(cacheKey(plan, parts)).toBe(`ptc:v${CACHE_FORMAT_VERSION}:${generic}`);
      expect(JSON.stringify(canonicalPlan(plan))).toBe(canonicalJson(canonicalPlan(plan)));
    }
    // Pinned: the key `base` had before the fast path, so entries stored by earlier releases still hit.
    expect(keyOf(base)).toBe('ptc:v2:0f5e20d661710fd8099981ffc94e03a0d19570b4862cac056da7c4e56942cd54');
  });
});
