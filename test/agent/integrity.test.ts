import { expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { PLAN } from '../helpers.js';

const calc = { path: 'calc.py', content: 'def add(a, b):\n    return a - b\n' };
const realTests = { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_zero():\n    assert add(0, 0) == 0\n', kind: 'test' as const };
const weakTests = { path: 'tests/test_calc.py', content: 'import pytest\n\n@pytest.mark.skip\ndef test_add():\n    pass\n', kind: 'test' as const };

test('a rejected iteration does not become the baseline: weakening hidden behind one refused file is still recorded', async () => {
  const generator = new ScriptedCodeGenerator([
    { files: [calc, realTests] },
    // Weakened tests sent together with a reserved path: refused, never tested.
    { files: [calc, weakTests, { path: '.ptc/x', content: '' }] },
    { files: [calc, weakTests] },
  ]);
  const runner = new FakeSandboxRunner({ results: [{ failed: ['test_add'], passed: ['test_zero'] }, { skipped: ['test_add'] }] });
  const bundle = await new PTCAgent({ generator, runner, cache: false }).execute({ ...PLAN, maxIterations: 3 });
  expect(bundle.iterations[1]?.error?.code).toBe('OUTPUT_REJECTED');
  const integrity = bundle.iterations[2]?.integrity;
  expect(integrity).toBeDefined();
  expect(integrity!.skipMarkersAdded).toBeGreaterThan(0);
  expect(integrity!.assertionsRemoved).toBeGreaterThan(0);
  expect(bundle.warnings.some((warning) => warning.includes('weakened its own tests'))).toBe(true);
});
