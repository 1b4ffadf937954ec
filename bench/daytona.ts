/**
 * npm run bench:daytona — DaytonaSandboxRunner against the fake Daytona server with injected
 * latency (create 90 ms, every toolbox call 20 ms), driven by the real PTCAgent and a scripted
 * generator (each answer takes GENERATION_MS, standing in for the model).
 *
 * Compares this runner (one sandbox per run, opened while the model writes iteration 1) with a
 * sandbox-per-test-run design (the old service: create, upload everything, run, read, delete for
 * every test run). Prints API calls per run and end-to-end time ratios from this one run.
 */
import type { GeneratedFileInput } from '../src/bundle.js';
import { PTCAgent } from '../src/agent.js';
import type { CommandResult, RunOptions, SandboxFile, SandboxOpenSpec, SandboxRunner, SandboxSession } from '../src/contracts/sandbox-runner.js';
import { PYTHON_PYTEST, type TestPreset } from '../src/reports/presets.js';
import type { DaytonaSandboxRunner } from '../src/runners/daytona.js';
import { ScriptedCodeGenerator } from '../src/testing/scripted-generator.js';
import { FakeDaytonaServer, runnerFor, type FakeEndpoint } from '../test/fakes/daytona-server.js';
import { reportResult } from './result.js';

const GENERATION_MS = 200;
const ITERATIONS = [1, 3, 5];
const REPEATS = 3;

const BUGGY: GeneratedFileInput[] = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a - b\n' },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
];
const FIXED: GeneratedFileInput[] = [{ ...BUGGY[0]!, content: 'def add(a, b):\n    return a + b\n' }, BUGGY[1]!];

// A test command of near-constant cost (no Python start-up), so the figures measure sandbox traffic.
const QUICK_PRESET: TestPreset = {
  ...PYTHON_PYTEST,
  id: 'bench-shell-junit',
  command: [
    'sh',
    '-c',
    `mkdir -p .ptc; if grep -q "a + b" calc.py; then echo '<testsuite><testcase name="test_add"/></testsuite>' > .ptc/junit.xml; ` +
      `else echo '<testsuite><testcase name="test_add"><failure message="assert -1 == 3"/></testcase></testsuite>' > .ptc/junit.xml; exit 1; fi`,
  ],
};

/** The design this runner replaces: a fresh sandbox for every test run. */
class SandboxPerTestRunRunner implements SandboxRunner {
  readonly id = 'daytona-per-test-run';
  constructor(private readonly inner: DaytonaSandboxRunner) {}
  async open(spec: SandboxOpenSpec): Promise<SandboxSession> {
    return new SandboxPerTestRunSession(this.inner, spec);
  }
}

class SandboxPerTestRunSession implements SandboxSession {
  readonly id = 'per-test-run';
  private readonly files = new Map<string, string>();
  private current: SandboxSession | undefined;
  constructor(
    private readonly inner: DaytonaSandboxRunner,
    private readonly spec: SandboxOpenSpec,
  ) {}
  async sync(files: readonly SandboxFile[]): Promise<void> {
    this.files.clear();
    for (const file of files) this.files.set(file.path, file.content);
  }
  async run(command: readonly string[], options: RunOptions): Promise<CommandResult> {
    await this.current?.close();
    this.current = await this.inner.open({ ...this.spec, signal: options.signal });
    await this.current.sync([...this.files].map(([path, content]) => ({ path, content })), { signal: options.signal });
    return this.current.run(command, options);
  }
  async readFile(path: string, options: { signal: AbortSignal }): Promise<string | undefined> {
    return this.current?.readFile(path, options);
  }
  async close(): Promise<void> {
    await this.current?.close();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const fake = await FakeDaytonaServer.start({ latencyMs: { create: 90, toolbox: 20 } });
  const daytona = runnerFor(fake, { requestTimeoutMs: 30_000, createTimeoutMs: 30_000 });
  const perTestRun = new SandboxPerTestRunRunner(daytona);
  const rows: string[] = [];
  try {
    // Warm-up: loads the SDK and builds the client outside the measurements.
    await (await daytona.open({ executionId: 'warm-up', language: 'python', dependencies: [], env: {}, signal: new AbortController().signal })).close();
    for (const iterations of ITERATIONS) {
      const script = [...Array.from({ length: iterations - 1 }, () => ({ files: BUGGY })), { files: FIXED }];
      const measure = async (runner: SandboxRunner) => {
        const times: number[] = [];
        let calls: Partial<Record<FakeEndpoint, number>> = {};
        let total = 0;
        for (let repeat = 0; repeat < REPEATS; repeat += 1) {
          fake.reset();
          const agent = new PTCAgent({ generator: new ScriptedCodeGenerator(script, { latencyMs: GENERATION_MS }), runner, testPresets: { python: QUICK_PRESET } });
          const started = performance.now();
          const bundle = await agent.execute({ taskDescription: 'add(a, b)', maxIterations: iterations, cacheStrategy: 'never' });
          times.push(performance.now() - started);
          if (bundle.status !== 'success' || bundle.iterations.length !== iterations) throw new Error(`unexpected bundle: ${bundle.status}, ${bundle.iterations.length} iterations`);
          calls = {};
          for (const call of fake.calls) calls[call.endpoint] = (calls[call.endpoint] ?? 0) + 1;
          total = fake.calls.length;
        }
        return { ms: median(times), calls, total };
      };
      const ours = await measure(daytona);
      const old = await measure(perTestRun);
      const describe = (calls: Partial<Record<FakeEndpoint, number>>) =>
        Object.entries(calls)
          .map(([endpoint, count]) => `${endpoint} ${count}`)
          .join(', ');
      reportResult({ name: `daytona: API calls per run, ${iterations} iteration(s)`, value: ours.total, unit: 'calls' });
      reportResult({ name: `daytona: time / sandbox-per-test-run, ${iterations} it.`, value: ours.ms / old.ms, unit: 'x' });
      rows.push(
        `${iterations} iteration(s): one sandbox per run ${ours.total} API calls (${describe(ours.calls)}), ${ours.ms.toFixed(0)} ms | ` +
          `sandbox per test run ${old.total} calls (${describe(old.calls)}), ${old.ms.toFixed(0)} ms | ` +
          `calls ×${(old.total / ours.total).toFixed(2)}, time ×${(old.ms / ours.ms).toFixed(2)} (saved ${(old.ms - ours.ms).toFixed(0)} ms)`,
      );
    }
  } finally {
    await daytona.dispose();
    await fake.close();
  }
  console.log(`DaytonaSandboxRunner vs sandbox-per-test-run — fake Daytona, latency create 90 ms / toolbox 20 ms, generation ${GENERATION_MS} ms, median of ${REPEATS}`);
  for (const row of rows) console.log(`  ${row}`);
}

await main();
