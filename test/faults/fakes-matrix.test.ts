import { afterAll, describe, expect, test } from 'vitest';
import {
  type BundleStatus,
  type Cache,
  type CodeGenerator,
  type ErrorCode,
  GenerationError,
  type PlanInput,
  PTCAbortError,
  PTCAgent,
  type PTCAgentOptions,
  type SandboxRunner,
  type StopReason,
} from '../../src/index.js';
import { FakeSandboxRunner, sampleBundle, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { BUGGY, ContractBreakingRunner, FaultyCache, FIXED, hang, leakyError, leakyGenerator, leakyRunner } from './adapters.js';
import {
  capture,
  expectNoSecret,
  expectValidBundle,
  plantSecret,
  quietBaseline,
  resourcesBackTo,
  type RunCapture,
  SECRET,
} from './harness.js';

/**
 * The fault matrix over the fakes, through the public API: every fault an adapter can produce
 * (generator, sandbox, cache), in every phase, plus abort and timeout in each phase. Each row runs
 * twice, through `execute()` and through `stream()`, and asserts that the run
 *   - settles (a hang fails the row with a message, long before the test timeout),
 *   - resolves with the expected status, stopReason and error code (or rejects with the typed error),
 *   - emits exactly one `run:end` that agrees with the bundle, and a schema-valid bundle,
 *   - leaves no sandbox session open,
 *   - lets the planted secret out nowhere: events, stream items, errors (message, stack, causes), bundle.
 * The last test re-runs every row and checks that no timer, socket or handle outlives them.
 */

const unplant = plantSecret();
afterAll(unplant);

/** What a row builds: the adapters, options and plan of one run, and how to stop it. */
interface Setup {
  generator: CodeGenerator;
  runner: SandboxRunner & { readonly openSessions: number };
  cache?: Cache | false;
  options?: Partial<PTCAgentOptions>;
  plan?: Partial<PlanInput> & Record<string, unknown>;
  /** Aborts the caller's signal this long after the run starts, with this reason. */
  abort?: { afterMs: number; reason?: unknown };
  /** Awaited before the session count is checked: work the agent cannot wait for (a late open). */
  settled?: () => Promise<void>;
}

interface Expected {
  status?: BundleStatus;
  stopReason?: StopReason;
  /** The bundle's error code; `null` = no error (a success). */
  code?: ErrorCode | null;
  /** Warning codes that must have been emitted (and be in `bundle.warnings`). */
  warnings?: string[];
  /** The run rejects with this code instead of resolving. */
  rejects?: ErrorCode;
}

interface Row {
  phase: string;
  fault: string;
  make: () => Setup;
  expected: Expected;
  check?: (run: RunCapture, setup: Setup) => void | Promise<void>;
}

const BASE_PLAN: PlanInput = {
  taskDescription: 'Write add(a, b) in calc.py with pytest tests',
  requirements: ['add two numbers'],
  maxIterations: 2,
  timeoutMs: 10_000,
};
const BASE_OPTIONS: Partial<PTCAgentOptions> = { closeTimeoutMs: 300, cacheTimeoutMs: 150, testTimeoutMs: 2_000 };
/** A row has settled long before this, or it hangs. */
const DEADLINE_MS = 8_000;
/** Short enough to keep the matrix fast, long enough for the fakes to reach their phase. */
const RUN_TIMEOUT_MS = 300;
const ABORT_AFTER_MS = 60;

const SUCCESS: Expected = { status: 'success', stopReason: 'tests_passed', code: null };
const CANCELLED: Expected = { status: 'cancelled', stopReason: 'cancelled', code: 'ABORTED' };
const TIMED_OUT: Expected = { status: 'timeout', stopReason: 'timeout', code: 'TIMEOUT' };
const REJECTED_OUTPUT: Expected = { status: 'failure', stopReason: 'generation_failed', code: 'OUTPUT_REJECTED' };

const standard = (overrides: Partial<Setup> = {}): Setup => ({
  generator: leakyGenerator(),
  runner: leakyRunner(),
  cache: new FaultyCache({}),
  ...overrides,
});

/** A generator answering with `output` (whatever it is) every time, after leaking the secret. */
const answering = (output: unknown): CodeGenerator => ({
  id: 'malformed',
  generate: async (_request, context) => {
    context.onProgress({ outputTokens: 1, message: `progress ${SECRET}` });
    return output as never;
  },
});

const hangingGenerator = (ignoreSignal: boolean): CodeGenerator => ({
  id: ignoreSignal ? 'hang-ignoring-signal' : 'hang',
  generate: (_request, context) => hang(context.signal, ignoreSignal),
});

/** No file reached any sandbox: rejected output is never written. */
const nothingWritten = (_run: RunCapture, setup: Setup) => {
  const runner = setup.runner as FakeSandboxRunner;
  for (const session of runner.sessions) expect([...session.files.keys()]).toEqual([]);
};

// ---------------------------------------------------------------------------------------------
// The rows.

const generatorRows: Row[] = [
  {
    phase: 'generation',
    fault: 'throws a plain Error every time (retryable)',
    make: () => standard({ generator: new ScriptedCodeGenerator({ error: leakyError('generate') }) }),
    expected: { status: 'failure', stopReason: 'generation_failed', code: 'GENERATION_FAILED' },
    check: (_run, setup) => expect((setup.generator as ScriptedCodeGenerator).calls).toHaveLength(2),
  },
  {
    phase: 'generation',
    fault: 'throws a non-retryable GenerationError',
    make: () =>
      standard({
        generator: new ScriptedCodeGenerator({
          error: new GenerationError(`401 invalid x-api-key ${SECRET}`, { retryable: false, cause: leakyError('http') }),
        }),
      }),
    expected: { status: 'failure', stopReason: 'generation_failed', code: 'GENERATION_FAILED' },
    check: (_run, setup) => expect((setup.generator as ScriptedCodeGenerator).calls).toHaveLength(1),
  },
  {
    phase: 'generation',
    fault: 'throws GENERATION_OUTPUT_INVALID once, then answers',
    make: () =>
      standard({
        generator: new ScriptedCodeGenerator([
          { error: new GenerationError(`bad tool input ${SECRET}`, { code: 'GENERATION_OUTPUT_INVALID' }) },
          { files: FIXED, notes: `fixed ${SECRET}` },
        ]),
      }),
    expected: SUCCESS,
  },
  {
    phase: 'generation',
    fault: 'throws a non-Error value',
    make: () => standard({ generator: { id: 'throws-string', generate: () => Promise.reject(`string thrown with ${SECRET}`) } }),
    expected: { status: 'failure', stopReason: 'generation_failed', code: 'GENERATION_FAILED' },
  },
  {
    phase: 'generation',
    fault: 'throws synchronously (generate is not async)',
    make: () =>
      standard({
        generator: {
          id: 'throws-sync',
          generate: () => {
            throw leakyError('generate');
          },
        },
      }),
    expected: { status: 'failure', stopReason: 'generation_failed', code: 'GENERATION_FAILED' },
  },
  {
    phase: 'generation',
    fault: 'a huge error message (5 MB)',
    make: () => standard({ generator: new ScriptedCodeGenerator({ error: new Error(`${SECRET} ${'x'.repeat(5_000_000)} ${SECRET}`) }) }),
    expected: { status: 'failure', stopReason: 'generation_failed', code: 'GENERATION_FAILED' },
    check: (run) => expect(JSON.stringify(run.bundle).length).toBeLessThan(100_000),
  },
  {
    phase: 'generation',
    fault: 'hangs (honours its signal) until the run times out',
    make: () => standard({ generator: hangingGenerator(false), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
  {
    phase: 'generation',
    fault: 'hangs ignoring its signal until the run times out',
    make: () => standard({ generator: hangingGenerator(true), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
];

/** Outputs that break the generator contract: each must fail the iteration, never the run's shape. */
const MALFORMED_OUTPUTS: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['no files list', { usage: {} }],
  ['files is a string', { files: 'calc.py' }],
  ['files contains null', { files: [null] }],
  ['a numeric path', { files: [{ path: 42, content: 'x' }] }],
  ['a file without content', { files: [{ path: 'calc.py' }] }],
  ['an unknown kind', { files: [{ path: 'calc.py', content: 'x', kind: 'weird' }] }],
  ['an empty list', { files: [] }],
];

const malformedRows: Row[] = MALFORMED_OUTPUTS.map(([fault, output]) => ({
  phase: 'output check',
  fault: `malformed output: ${fault}`,
  make: () => standard({ generator: answering(output) }),
  // A contract breach by the generator is a failed generation, whatever code names it.
  expected: { status: 'failure', stopReason: 'generation_failed' },
  check: (run, setup) => {
    expect(['OUTPUT_REJECTED', 'GENERATION_FAILED', 'GENERATION_OUTPUT_INVALID']).toContain(run.bundle?.error?.code);
    // The model (and the user) are told what was wrong, not "undefined".
    expect(run.bundle?.error?.message).not.toMatch(/^(undefined|null)$/);
    nothingWritten(run, setup);
  },
}));

malformedRows.push({
  phase: 'output check',
  fault: 'notes that are not a string',
  make: () => standard({ generator: answering({ files: FIXED, notes: { text: SECRET } }) }),
  // Good files with bad notes: the notes are dropped (or the output rejected), but the sandbox
  // is not to blame for the generator's output.
  expected: {},
  check: (run) => expect(['tests_passed', 'generation_failed']).toContain(run.bundle?.stopReason),
});

malformedRows.push({
  phase: 'output check',
  fault: 'invalid usage (negative, NaN)',
  make: () =>
    standard({
      generator: new ScriptedCodeGenerator({ files: FIXED, usage: { inputTokens: -5, outputTokens: Number.NaN, costUsd: -1 } }),
    }),
  expected: { ...SUCCESS, warnings: ['USAGE_INVALID'] },
});

/** Paths a hostile or confused model may write; the secret rides in some of them. */
const HOSTILE_PATHS: string[] = [
  '../escape.py',
  'tests/../../escape.py',
  '/etc/cron.d/evil',
  `/tmp/${SECRET}.py`,
  `../${SECRET}/x.py`,
  'C:/evil.py',
  '~/.bashrc',
  'a\\..\\evil.py',
  'evil\u0000.py',
  'evil\n.py',
  `${'deep/'.repeat(300)}x.py`,
  `${'x'.repeat(5_000)}.py`,
];

const hostilePathRows: Row[] = HOSTILE_PATHS.map((path) => ({
  phase: 'output check',
  // The title never shows the secret: test reports are output too.
  fault: `hostile path ${JSON.stringify(path.length > 60 ? `${path.slice(0, 40)}…(${path.length} chars)` : path.replace(SECRET, '<secret>'))}`,
  make: () => standard({ generator: new ScriptedCodeGenerator({ files: [...FIXED, { path, content: `# ${SECRET}\n` }], notes: `n ${SECRET}` }) }),
  expected: REJECTED_OUTPUT,
  check: nothingWritten,
}));

hostilePathRows.push({
  phase: 'output check',
  fault: 'a file that is also a directory',
  make: () => standard({ generator: new ScriptedCodeGenerator({ files: [...FIXED, { path: 'calc.py/inner.py', content: 'x' }] }) }),
  expected: REJECTED_OUTPUT,
  check: nothingWritten,
});

const hugeOutputRows: Row[] = [
  {
    phase: 'output check',
    fault: 'huge output: one 2 MiB file',
    make: () => standard({ generator: new ScriptedCodeGenerator({ files: [...FIXED, { path: 'big.py', content: 'x'.repeat(2 * 1024 * 1024) }] }) }),
    expected: REJECTED_OUTPUT,
    check: nothingWritten,
  },
  {
    phase: 'output check',
    fault: 'huge output: 201 files',
    make: () =>
      standard({
        generator: new ScriptedCodeGenerator({ files: Array.from({ length: 201 }, (_, index) => ({ path: `m${index}.py`, content: 'x = 1\n' })) }),
      }),
    expected: REJECTED_OUTPUT,
    check: nothingWritten,
  },
  {
    phase: 'output check',
    fault: 'huge output: 6 MB in total',
    make: () =>
      standard({
        generator: new ScriptedCodeGenerator({
          files: [...FIXED, ...Array.from({ length: 6 }, (_, index) => ({ path: `blob${index}.py`, content: 'x'.repeat(1_000_000) }))],
        }),
      }),
    expected: REJECTED_OUTPUT,
    check: nothingWritten,
  },
  {
    phase: 'output check',
    fault: 'huge notes (5 MB)',
    make: () => standard({ generator: new ScriptedCodeGenerator({ files: FIXED, notes: `${SECRET}${'n'.repeat(5_000_000)}${SECRET}` }) }),
    expected: SUCCESS,
    // Every buffer is capped: a model's notes must not make a 5 MB bundle.
    check: (run) => expect(JSON.stringify(run.bundle).length, 'bundle size').toBeLessThan(1_000_000),
  },
  {
    phase: 'output check',
    fault: 'huge progress messages (5 MB)',
    make: () =>
      standard({
        generator: new ScriptedCodeGenerator((_request, context) => {
          context.onProgress({ outputTokens: 1, message: `${SECRET}${'p'.repeat(5_000_000)}` });
          return { files: FIXED };
        }),
      }),
    expected: SUCCESS,
    // Nor a progress message a 5 MB event (servers forward them as SSE).
    check: (run) => expect(JSON.stringify(run.events).length, 'events size').toBeLessThan(1_000_000),
  },
];

const sandboxRows: Row[] = [
  {
    phase: 'sandbox open',
    fault: 'open fails',
    make: () => standard({ runner: leakyRunner({ faults: { open: leakyError('open') } }) }),
    expected: { status: 'failure', stopReason: 'sandbox_failed', code: 'SANDBOX_OPEN_FAILED' },
  },
  {
    phase: 'sandbox open',
    fault: 'open throws synchronously',
    make: () => standard({ runner: new ContractBreakingRunner({ openThrowsSynchronously: true }) }),
    expected: { status: 'failure', stopReason: 'sandbox_failed' },
  },
  {
    phase: 'sandbox open',
    fault: 'open hangs (honours its signal)',
    make: () => standard({ runner: leakyRunner({ faults: { open: 'hang' } }), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
  {
    phase: 'sandbox open',
    fault: 'open hangs ignoring its signal',
    make: () => standard({ runner: leakyRunner({ faults: { open: 'hang-ignoring-signal' } }), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
  {
    phase: 'sandbox open',
    fault: 'open ignores its signal and lands after the run timed out',
    make: () => {
      const runner = new ContractBreakingRunner({ openLandsAfterMs: RUN_TIMEOUT_MS + 150 });
      return standard({ runner, plan: { timeoutMs: RUN_TIMEOUT_MS }, settled: () => runner.lateOpenLanded });
    },
    expected: TIMED_OUT,
    // The late session is closed when it lands, not leaked.
    check: async (_run, setup) => {
      await setup.settled?.();
      await new Promise((resolve) => setTimeout(resolve, 20));
      const runner = setup.runner as ContractBreakingRunner;
      expect(runner.handedOut).toBe(1);
      expect(runner.closeCalls).toBe(1);
    },
  },
  {
    phase: 'write files',
    fault: 'write fails',
    make: () => standard({ runner: leakyRunner({ faults: { sync: leakyError('write') } }) }),
    expected: { status: 'failure', stopReason: 'sandbox_failed', code: 'SANDBOX_FAILED' },
  },
  {
    phase: 'write files',
    fault: 'write fails in iteration 2 only',
    make: () => standard({ runner: leakyRunner({ faults: { sync: leakyError('write') }, faultOnCall: 1 }) }),
    // Iteration 1's files were tested (red): the same status as when any other phase fails later.
    expected: { status: 'partial_success', stopReason: 'sandbox_failed', code: 'SANDBOX_FAILED' },
  },
  {
    phase: 'write files',
    fault: 'write hangs',
    make: () => standard({ runner: leakyRunner({ faults: { sync: 'hang' } }), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
  {
    phase: 'write files',
    fault: 'write hangs ignoring its signal',
    make: () => standard({ runner: leakyRunner({ faults: { sync: 'hang-ignoring-signal' } }), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
  {
    phase: 'write files',
    fault: 'removing the previous report fails',
    make: () => standard({ runner: new ContractBreakingRunner({ syncThrows: true }) }),
    expected: { status: 'failure', stopReason: 'sandbox_failed' },
  },
  {
    phase: 'run tests',
    fault: 'run fails',
    make: () => standard({ runner: leakyRunner({ faults: { run: leakyError('run') } }) }),
    expected: { status: 'failure', stopReason: 'sandbox_failed', code: 'SANDBOX_FAILED' },
  },
  {
    phase: 'run tests',
    fault: 'run hangs',
    make: () => standard({ runner: leakyRunner({ faults: { run: 'hang' } }), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
  {
    phase: 'run tests',
    fault: 'run hangs ignoring its signal',
    make: () => standard({ runner: leakyRunner({ faults: { run: 'hang-ignoring-signal' } }), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
  {
    phase: 'run tests',
    fault: 'the test command times out every time',
    make: () => standard({ runner: leakyRunner({ results: { timedOut: true, stdout: `slow ${SECRET}` } }) }),
    expected: { status: 'partial_success', stopReason: 'max_iterations', code: 'TESTS_FAILED' },
    check: (run) => expect(run.bundle?.testReport?.problem).toMatch(/timed out/),
  },
  {
    phase: 'run tests',
    fault: 'output flood (8 MB of stdout and of stderr)',
    make: () =>
      standard({
        runner: leakyRunner({
          results: { passed: ['test_add'], stdout: `${SECRET}${'o'.repeat(8_000_000)}${SECRET}`, stderr: `${SECRET}${'e'.repeat(8_000_000)}${SECRET}` },
        }),
      }),
    expected: SUCCESS,
    check: (run) => {
      expect(run.bundle?.testReport?.stdoutTruncated).toBe(true);
      expect(run.bundle?.testReport?.stderrTruncated).toBe(true);
      expect(JSON.stringify(run.bundle).length).toBeLessThan(1_000_000);
    },
  },
  {
    phase: 'run tests',
    fault: 'the test runner crashes (signal exit, no report)',
    make: () => standard({ runner: leakyRunner({ results: { exitCode: 139, report: null, stderr: `Segmentation fault ${SECRET}` } }) }),
    // Files were produced, so this is a red partial result, never a success.
    expected: { status: 'partial_success', stopReason: 'max_iterations', code: 'TESTS_FAILED' },
    check: (run) => {
      expect(run.bundle?.testReport?.problem).toBeTruthy();
    },
  },
  {
    phase: 'run tests',
    fault: 'a corrupt report with exit code 0',
    make: () => standard({ runner: leakyRunner({ results: { exitCode: 0, report: `<testsuite><testcase name="${SECRET}"` } }) }),
    expected: { status: 'partial_success', stopReason: 'max_iterations', code: 'TESTS_FAILED' },
  },
  {
    phase: 'run tests',
    fault: 'run resolves garbage instead of a CommandResult',
    make: () => standard({ runner: new ContractBreakingRunner({ runResolves: undefined }) }),
    expected: { status: 'failure', stopReason: 'sandbox_failed' },
  },
  {
    phase: 'run tests',
    fault: 'a flood of 2,000 failing cases with 4 KB messages',
    make: () =>
      standard({
        runner: leakyRunner({
          results: { failed: Array.from({ length: 2_000 }, (_, index) => ({ name: `test_${index}`, message: `${SECRET} ${'m'.repeat(4_000)}` })) },
        }),
      }),
    expected: { status: 'partial_success', stopReason: 'max_iterations', code: 'TESTS_FAILED' },
    // 2,000 cases × 4 KB per iteration must not become a 24 MB bundle (10,000 cases × 10 iterations
    // would be 400 MB): the report keeps a bounded number of cases and counts the rest.
    check: (run) => expect(JSON.stringify(run.bundle).length, 'bundle size').toBeLessThan(5_000_000),
  },
  {
    phase: 'read report',
    fault: 'reading the report fails',
    make: () => standard({ runner: leakyRunner({ faults: { readFile: leakyError('readFile') } }) }),
    expected: { status: 'failure', stopReason: 'sandbox_failed', code: 'SANDBOX_FAILED' },
  },
  {
    phase: 'read report',
    fault: 'reading the report hangs',
    make: () => standard({ runner: leakyRunner({ faults: { readFile: 'hang' } }), plan: { timeoutMs: RUN_TIMEOUT_MS } }),
    expected: TIMED_OUT,
  },
  {
    phase: 'close',
    fault: 'close fails (breaking the contract)',
    make: () => standard({ runner: leakyRunner({ faults: { close: leakyError('close') } }) }),
    expected: { ...SUCCESS, warnings: ['SANDBOX_FAILED'] },
  },
  {
    phase: 'close',
    fault: 'close hangs',
    make: () => standard({ runner: new ContractBreakingRunner({ closeHangs: true }) }),
    expected: { ...SUCCESS, warnings: ['SANDBOX_FAILED'] },
  },
];

const cacheRows: Row[] = [
  ...(['throws', 'throws-synchronously', 'hangs', 'hangs-ignoring-signal'] as const).map(
    (fault): Row => ({
      phase: 'cache read',
      fault: `get ${fault}`,
      make: () => standard({ cache: new FaultyCache({ get: fault }) }),
      expected: { ...SUCCESS, warnings: ['CACHE_FAILED'] },
    }),
  ),
  ...([
    ['an object that is no bundle', { format: 1, bundle: { leaked: SECRET } }],
    ['a string', `corrupt ${SECRET}`],
    ['a bundle with a wrong status', { status: 'green', executionId: SECRET }],
  ] as const).map(
    ([what, entry]): Row => ({
      phase: 'cache read',
      fault: `get returns a corrupt entry: ${what}`,
      make: () => standard({ cache: new FaultyCache({ get: { corrupt: entry } }) }),
      expected: { ...SUCCESS, warnings: ['CACHE_FAILED'] },
    }),
  ),
  {
    phase: 'cache read',
    fault: 'get returns a valid bundle that quotes the secret (a poisoned shared cache)',
    make: () => {
      const poisoned = sampleBundle('poisoned');
      poisoned.warnings = [`stored by another host with ${SECRET}`];
      poisoned.testReport = { ...poisoned.testReport!, stdout: `KEY=${SECRET}` };
      return standard({ cache: new FaultyCache({ get: { corrupt: poisoned } }) });
    },
    // Never rewritten into a hit (that would serve other bytes than were stored): a miss, and the
    // plan runs.
    expected: { ...SUCCESS, warnings: ['CACHE_FAILED'] },
    check: (run, setup) => {
      expect(run.bundle?.fromCache).toBe(false);
      expect((setup.generator as ScriptedCodeGenerator).calls).not.toHaveLength(0);
    },
  },
  ...(['throws', 'throws-synchronously', 'hangs', 'hangs-ignoring-signal'] as const).map(
    (fault): Row => ({
      phase: 'cache write',
      fault: `set ${fault}`,
      make: () => standard({ cache: new FaultyCache({ set: fault }) }),
      expected: { ...SUCCESS, warnings: ['CACHE_FAILED'] },
    }),
  ),
];

/**
 * Holds a run in one phase (a hang there) so that an abort or the run's timeout lands in it.
 * `after` is what a stop in that phase should produce: once the loop is over (close, cache write)
 * neither the caller's abort nor the run's timeout can turn a finished run into a failure.
 */
const HOLDS: Array<{ phase: string; make: (plan?: Setup['plan']) => Setup; abortExpected?: Expected; timeoutExpected?: Expected }> = [
  { phase: 'cache read', make: (plan) => standard({ cache: new FaultyCache({ get: 'hangs' }), options: { cacheTimeoutMs: 60_000 }, ...(plan ? { plan } : {}) }) },
  {
    phase: 'cache read (ignoring its signal)',
    make: (plan) => standard({ cache: new FaultyCache({ get: 'hangs-ignoring-signal' }), options: { cacheTimeoutMs: 60_000 }, ...(plan ? { plan } : {}) }),
  },
  { phase: 'generation', make: (plan) => standard({ generator: hangingGenerator(false), ...(plan ? { plan } : {}) }) },
  { phase: 'generation (ignoring its signal)', make: (plan) => standard({ generator: hangingGenerator(true), ...(plan ? { plan } : {}) }) },
  { phase: 'sandbox open', make: (plan) => standard({ runner: leakyRunner({ faults: { open: 'hang' } }), ...(plan ? { plan } : {}) }) },
  { phase: 'write files', make: (plan) => standard({ runner: leakyRunner({ faults: { sync: 'hang' } }), ...(plan ? { plan } : {}) }) },
  { phase: 'run tests', make: (plan) => standard({ runner: leakyRunner({ faults: { run: 'hang' } }), ...(plan ? { plan } : {}) }) },
  { phase: 'run tests (ignoring its signal)', make: (plan) => standard({ runner: leakyRunner({ faults: { run: 'hang-ignoring-signal' } }), ...(plan ? { plan } : {}) }) },
  { phase: 'read report', make: (plan) => standard({ runner: leakyRunner({ faults: { readFile: 'hang' } }), ...(plan ? { plan } : {}) }) },
  {
    phase: 'refinement (iteration 2 generating)',
    make: (plan) =>
      standard({
        generator: new ScriptedCodeGenerator((request, context) => (request.iteration === 1 ? { files: BUGGY } : hang(context.signal))),
        ...(plan ? { plan } : {}),
      }),
  },
  {
    phase: 'close',
    make: (plan) => standard({ runner: new ContractBreakingRunner({ closeHangs: true }), options: { closeTimeoutMs: 600 }, ...(plan ? { plan } : {}) }),
    abortExpected: { ...SUCCESS, warnings: ['SANDBOX_FAILED'] },
    timeoutExpected: { ...SUCCESS, warnings: ['SANDBOX_FAILED'] },
  },
  {
    phase: 'cache write',
    make: (plan) => standard({ cache: new FaultyCache({ set: 'hangs' }), options: { cacheTimeoutMs: 600 }, ...(plan ? { plan } : {}) }),
    // An abort after the loop: the result stands, and an abandoned write is not worth a warning.
    abortExpected: SUCCESS,
    // The run's timeout does not cover the write; cacheTimeoutMs does.
    timeoutExpected: { ...SUCCESS, warnings: ['CACHE_FAILED'] },
  },
];

const ABORT_REASONS: Array<[string, () => unknown]> = [
  ['a PTCAbortError quoting the secret', () => new PTCAbortError(`stopped by user holding ${SECRET}`)],
  ['a plain Error quoting the secret', () => leakyError('caller')],
  ['no reason', () => undefined],
];

const stopRows: Row[] = HOLDS.flatMap(({ phase, make, abortExpected, timeoutExpected }): Row[] => [
  ...ABORT_REASONS.map(
    ([reason, makeReason]): Row => ({
      phase,
      fault: `abort with ${reason}`,
      make: () => ({ ...make(), abort: { afterMs: ABORT_AFTER_MS, reason: makeReason() } }),
      expected: abortExpected ?? CANCELLED,
    }),
  ),
  {
    phase,
    fault: 'the run times out',
    make: () => make({ timeoutMs: RUN_TIMEOUT_MS }),
    expected: timeoutExpected ?? TIMED_OUT,
  },
]);

const planRows: Row[] = [
  {
    phase: 'plan validation',
    fault: 'a dependency that smuggles the secret',
    make: () => standard({ plan: { dependencies: [`-${SECRET}`] } }),
    expected: { rejects: 'PLAN_INVALID' },
  },
  {
    phase: 'plan validation',
    fault: 'an acceptance test at a hostile path quoting the secret',
    make: () => standard({ plan: { acceptanceTests: [{ path: `../${SECRET}.py`, content: SECRET }] } }),
    expected: { rejects: 'PLAN_INVALID' },
  },
  {
    phase: 'plan validation',
    fault: 'an unknown field named after the secret',
    make: () => standard({ plan: { taskDescription: '', [SECRET]: SECRET } }),
    expected: { rejects: 'PLAN_INVALID' },
  },
];

const ROWS: Row[] = [...generatorRows, ...malformedRows, ...hostilePathRows, ...hugeOutputRows, ...sandboxRows, ...cacheRows, ...stopRows, ...planRows];

// ---------------------------------------------------------------------------------------------
// Running a row.

async function runRow(row: Row, mode: 'execute' | 'stream'): Promise<{ run: RunCapture; setup: Setup }> {
  const setup = row.make();
  const agent = new PTCAgent({
    generator: setup.generator,
    runner: setup.runner,
    cache: setup.cache ?? false,
    ...BASE_OPTIONS,
    ...setup.options,
  });
  const controller = new AbortController();
  let abortTimer: NodeJS.Timeout | undefined;
  if (setup.abort) {
    const { afterMs, reason } = setup.abort;
    abortTimer = setTimeout(() => controller.abort(reason), afterMs);
  }
  try {
    const run = await capture(agent, { ...BASE_PLAN, ...setup.plan } as PlanInput, {
      mode,
      deadlineMs: DEADLINE_MS,
      ...(setup.abort ? { signal: controller.signal } : {}),
    });
    return { run, setup };
  } finally {
    clearTimeout(abortTimer);
  }
}

async function checkRow(row: Row, mode: 'execute' | 'stream'): Promise<void> {
  const { run, setup } = await runRow(row, mode);
  const { expected } = row;
  expectNoSecret({ events: run.events, bundle: run.bundle, errors: run.error === undefined ? [] : [run.error], stream: run.streamItems });
  if (expected.rejects) {
    expect(run.bundle).toBeUndefined();
    expect(run.error).toMatchObject({ code: expected.rejects });
  } else {
    if (run.error !== undefined) throw run.error;
    const bundle = run.bundle;
    expect(bundle, 'the run produced no bundle').toBeDefined();
    if (!bundle) return;
    expectValidBundle(bundle);
    const summary = { status: bundle.status, stopReason: bundle.stopReason, code: bundle.error?.code ?? null };
    expect(summary).toMatchObject({
      ...(expected.status ? { status: expected.status } : {}),
      ...(expected.stopReason ? { stopReason: expected.stopReason } : {}),
      ...(expected.code !== undefined ? { code: expected.code } : {}),
    });
    if (bundle.status !== 'success') expect(bundle.error?.code, 'a status other than success carries an error').toBeDefined();
    const ends = run.events.filter((event) => event.name === 'run:end').map((event) => event.payload as { status: string });
    expect(ends.map((end) => end.status)).toEqual([bundle.status]);
    if (mode === 'stream') {
      expect(run.streamItems.at(-1)?.type).toBe('bundle');
      expect(run.streamItems.filter((item) => item.type === 'run:end')).toHaveLength(1);
    }
    const warningCodes = run.events.filter((event) => event.name === 'warning').map((event) => (event.payload as { code: string }).code);
    for (const code of expected.warnings ?? []) {
      expect(warningCodes).toContain(code);
      expect(bundle.warnings.length).toBeGreaterThan(0);
    }
  }
  await row.check?.(run, setup);
  await setup.settled?.();
  expect(setup.runner.openSessions, 'a sandbox session was left open').toBe(0);
  if (setup.runner instanceof FakeSandboxRunner) for (const session of setup.runner.sessions) expect(session.isClosed).toBe(true);
}

describe.concurrent.each(['execute', 'stream'] as const)('fault matrix over the fakes, through %s()', (mode) => {
  test.each(ROWS.map((row) => [row.phase, row.fault, row] as const))('%s: %s', async (_phase, _fault, row) => {
    await checkRow(row, mode);
  });
});

describe('the matrix is complete', () => {
  test('every phase has a fault row and an abort and a timeout row', () => {
    const phasesWithStops = new Set(stopRows.map((row) => row.phase.replace(/ \(.*\)$/, '')));
    for (const phase of ['cache read', 'generation', 'sandbox open', 'write files', 'run tests', 'read report', 'close', 'cache write']) {
      expect(phasesWithStops, phase).toContain(phase);
      expect(
        ROWS.some((row) => row.phase === phase && !row.fault.startsWith('abort') && row.fault !== 'the run times out'),
        `a fault row for ${phase}`,
      ).toBe(true);
    }
  });
});

describe('open handles', () => {
  test('the check can fail: a timer left running is reported', async () => {
    const baseline = await quietBaseline();
    const interval = setInterval(() => {}, 1_000);
    try {
      expect(await resourcesBackTo(baseline, 200)).toEqual([expect.stringMatching(/^Timeout: /)]);
    } finally {
      clearInterval(interval);
    }
    expect(await resourcesBackTo(baseline, 1_000)).toEqual([]);
  });

  test('after every row has run, no timer, socket, process or file handle is left behind', async () => {
    // Let the previous describe's stragglers (late opens, abandoned hangs) finish first.
    const baseline = await quietBaseline();
    await Promise.all(ROWS.map((row) => runRow(row, 'execute')));
    const grown = await resourcesBackTo(baseline, 3_000);
    expect(grown, `resources still active after the batch: ${grown.join(', ')}`).toEqual([]);
  }, 30_000);
});
