import { describe, expect, test } from 'vitest';
import { PYTHON_PYTEST } from '../../src/reports/presets.js';
import { runTests } from '../../src/reports/run-tests.js';
import { DaytonaSandboxRunner } from '../../src/runners/daytona.js';

const apiKey = process.env.DAYTONA_API_KEY;
if (!apiKey) console.warn('[daytona-live] SKIPPED: set DAYTONA_API_KEY to run the DaytonaSandboxRunner test against the real Daytona service');

describe.skipIf(!apiKey)('DaytonaSandboxRunner against the real Daytona service (skipped: DAYTONA_API_KEY is not set)', () => {
  test('opens a sandbox, runs pytest, reads the report, deletes the sandbox', async () => {
    const warnings: string[] = [];
    const runner = new DaytonaSandboxRunner({
      apiKey: apiKey!,
      labels: { purpose: 'ptc-agent-live-test' },
      autoStopIntervalMinutes: 5,
      // Installed only if missing from the default snapshot; harmless otherwise.
      extraDependencies: { python: ['pytest'] },
      onWarning: (message) => warnings.push(message),
    });
    const signal = new AbortController().signal;
    try {
      const session = await runner.open({ executionId: `live-${Date.now()}`, language: 'python', dependencies: [], env: { PTC_LIVE: '1' }, signal });
      try {
        await session.sync(
          [
            { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
            { path: 'tests/test_calc.py', content: 'import os\nfrom calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_env():\n    assert os.environ["PTC_LIVE"] == "1"\n' },
          ],
          { signal },
        );
        const report = await runTests(session, PYTHON_PYTEST, { timeoutMs: 120_000, signal, testFiles: ['tests/test_calc.py'] });
        expect(report.success).toBe(true);
        expect(report.passed).toBe(2);
        const split = await session.run(['sh', '-c', 'echo out; echo err >&2; exit 4'], { timeoutMs: 30_000, signal });
        expect(split).toMatchObject({ exitCode: 4, stdout: 'out\n', stderr: 'err\n', timedOut: false });
        const killed = await session.run(['sleep', '30'], { timeoutMs: 2_000, signal });
        expect(killed).toMatchObject({ timedOut: true, exitCode: null });
      } finally {
        await session.close();
      }
      expect(warnings).toEqual([]);
    } finally {
      await runner.dispose();
    }
  }, 300_000);
});
