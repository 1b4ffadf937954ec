import { describe, expect, test } from 'vitest';
import { parseRomaPlan, romaCacheKey } from '../../src/roma/index.js';
import { CALCULATOR_PLAN } from './fixtures.js';

describe('romaCacheKey', () => {
  test('reproduces the check value of ROMA-CONTRACT.md §4 for the calculator plan', () => {
    expect(romaCacheKey(parseRomaPlan(CALCULATOR_PLAN))).toBe('dbe4ca9729830fba');
  });

  test('ignores what ROMA leaves out of the key and normalises what it normalises', () => {
    const base = romaCacheKey(parseRomaPlan(CALCULATOR_PLAN));
    const reordered = parseRomaPlan({
      ...CALCULATOR_PLAN,
      execution_id: 'another',
      max_iterations: 7,
      timeout_seconds: 900,
      metadata: { depth: 3 },
      scaffolding: {
        ...CALCULATOR_PLAN.scaffolding,
        task_description: '  BUILD a simple calculator CLI\n',
        requirements: [...CALCULATOR_PLAN.scaffolding.requirements].reverse().map((item) => ` ${item.toUpperCase()} `),
        context: 'ignored',
        file_structure: { 'main.py': 'ignored' },
      },
    });
    expect(romaCacheKey(reordered)).toBe(base);
    expect(romaCacheKey(parseRomaPlan({ ...CALCULATOR_PLAN, primary_llm: 'kimi' }))).not.toBe(base);
    expect(romaCacheKey(parseRomaPlan({ ...CALCULATOR_PLAN, fallback_llm: null }))).not.toBe(base);
    expect(romaCacheKey(parseRomaPlan({ ...CALCULATOR_PLAN, enable_testing: false }))).not.toBe(base);
  });

  test('matches Python for example B of the contract (architecture, null fallback)', () => {
    const plan = parseRomaPlan({
      execution_id: 'roma-7f3c2a1e-0001',
      scaffolding: {
        task_description: 'Create a Python function is_prime(n) with tests',
        requirements: ["Function named 'is_prime'", 'Handle 0, 1 and negative numbers'],
        architecture: { style: 'single module', typing: 'full type hints' },
        dependencies: [],
        file_structure: { 'main.py': 'is_prime implementation', 'tests/test_main.py': 'pytest tests' },
        context: 'Python 3.12, no third-party packages',
      },
      primary_llm: 'kimi',
      fallback_llm: null,
    });
    // Computed with CPython 3.11 from the formula in the contract.
    expect(romaCacheKey(plan)).toBe('b5aff601f0ef6907');
  });

  test('matches Python on non-ASCII text, Python-only whitespace, code point order and floats', () => {
    // The JSON text exactly as Python's json.dumps printed the input plan.
    const body =
      '{"execution_id": "u", "scaffolding": {"task_description": "\\u001c  \\u00dcn\\u00efc\\u00f6d\\u00e9 Stra\\u00dfe \\u2014 \\u03a3\\u0391\\u03a3 \\ud83d\\ude00\\ufeff ", "requirements": ["\\u00a0Zeta\\u0085", "alpha", "\\ue000 private", "\\ud83d\\ude00 emoji", "\\u00c9mile"], "architecture": {"z": [1, 2.5, 1e-07, 1.5e+300, 123456789.125, {"b": null, "a": true}], "A": "\\u0001\\u007f\\"\\\\\\n\\t", "\\u00e9": 0.1}, "dependencies": ["Click", "  requests>=2 "]}, "enable_testing": false, "primary_llm": "openai"}';
    expect(romaCacheKey(parseRomaPlan(JSON.parse(body)))).toBe('2719aabfd1387e8a');
  });
});
