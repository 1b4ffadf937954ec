import type {
  CommandResult,
  RunOptions,
  SandboxFile,
  SandboxOpenSpec,
  SandboxRunner,
  SandboxSession,
} from '../contracts/sandbox-runner.js';
import { PTCError, SandboxError } from '../errors.js';
import { abortReason } from '../internal/async.js';
import { normalizeRelativePath } from '../internal/paths.js';
import { REPORT_PATH } from '../reports/presets.js';
import { delay } from './delay.js';
import { type JUnitCaseInput, junitXml } from './junit-xml.js';

/** What one scripted test run reports. Names become passing/failing cases of a JUnit report. */
export interface FakeTestResult {
  passed?: readonly string[];
  failed?: ReadonlyArray<string | { name: string; message: string }>;
  errored?: ReadonlyArray<string | { name: string; message: string }>;
  skipped?: readonly string[];
  /** @default 1 when anything failed or errored, else 0 */
  exitCode?: number | null;
  /** @default the `output` chunks of stdout, joined */
  stdout?: string;
  /** @default the `output` chunks of stderr, joined */
  stderr?: string;
  /**
   * Output delivered live to `RunOptions.onOutput`, in order, each chunk after its `delayMs`
   * (default 0), before the run resolves. Without it, a listener gets `stdout` and `stderr` once
   * each when the run ends, as from a runner that cannot stream.
   */
  output?: ReadonlyArray<{ stream: 'stdout' | 'stderr'; chunk: string; delayMs?: number }>;
  timedOut?: boolean;
  /** Raw report to store instead of one built from the names; `null` writes none. */
  report?: string | null;
}

export interface FakeRunContext {
  /** The workspace as the session holds it now. */
  files: ReadonlyMap<string, string>;
  command: readonly string[];
  /** 0-based index of this run within the session. */
  runIndex: number;
  /**
   * True for an acceptance run (the plan's acceptance tests on their own; its report path is
   * under `.ptc/acceptance/`). Its cases are reported once per test file named in `command`, with
   * the file set.
   */
  acceptance: boolean;
}

export type FakeRunScript =
  | FakeTestResult
  | readonly FakeTestResult[]
  | ((context: FakeRunContext) => FakeTestResult | Promise<FakeTestResult>);

/** `'hang'` waits until the call's signal aborts; `'hang-ignoring-signal'` never settles. */
export type FakeFault = Error | 'hang' | 'hang-ignoring-signal';

export interface FakeSandboxRunnerOptions {
  /** @default 'fake' */
  id?: string;
  /** Test results, per run. @default every run passes one test */
  results?: FakeRunScript;
  /** @default 0 */
  openLatencyMs?: number;
  /** Added to the open when the spec has dependencies. @default 0 */
  installLatencyMs?: number;
  /** @default 0 */
  runLatencyMs?: number;
  /** @default 0 */
  syncLatencyMs?: number;
  /** Injected failures, per operation. A fault fires on every call unless `faultOnCall` narrows it. */
  faults?: { open?: FakeFault; sync?: FakeFault; run?: FakeFault; readFile?: FakeFault; close?: Error };
  /** 0-based call index at which the `run`/`sync` faults fire. @default every call */
  faultOnCall?: number;
  /** Keep every session and open spec for inspection; turn off for long benchmarks. @default true */
  retainSessions?: boolean;
}

/**
 * A `SandboxRunner` that runs nothing: sessions hold files in memory and `run` answers from a
 * script, writing a JUnit report where the command says (`--junitxml=…`,
 * `--test-reporter-destination=…` after the junit reporter), else where the built-in presets look. It counts sessions
 * (`opened`, `closed`, `openSessions`) so tests can prove that none is leaked.
 */
export class FakeSandboxRunner implements SandboxRunner {
  readonly id: string;
  opened = 0;
  closed = 0;
  /** Every open spec, in order (signals included). */
  readonly openSpecs: SandboxOpenSpec[] = [];
  readonly sessions: FakeSandboxSession[] = [];
  readonly options: FakeSandboxRunnerOptions;

  constructor(options: FakeSandboxRunnerOptions = {}) {
    this.options = options;
    this.id = options.id ?? 'fake';
  }

  /** Sessions opened and not yet closed. */
  get openSessions(): number {
    return this.opened - this.closed;
  }

  async open(spec: SandboxOpenSpec): Promise<SandboxSession> {
    const retain = this.options.retainSessions ?? true;
    if (retain) this.openSpecs.push(spec);
    if (spec.signal.aborted) throw abortReason(spec.signal);
    await applyFault(this.options.faults?.open, spec.signal, 'open');
    const latency = (this.options.openLatencyMs ?? 0) + (spec.dependencies.length > 0 ? (this.options.installLatencyMs ?? 0) : 0);
    await delay(latency, spec.signal);
    if (spec.dependencies.length > 0) {
      spec.onDependenciesInstalled?.({ count: spec.dependencies.length, durationMs: this.options.installLatencyMs ?? 0, reused: false });
    }
    this.opened += 1;
    const session = new FakeSandboxSession(`${this.id}-${this.opened}`, this, spec);
    if (retain) this.sessions.push(session);
    return session;
  }

  /** @internal */
  markClosed(): void {
    this.closed += 1;
  }
}

export class FakeSandboxSession implements SandboxSession {
  readonly isolation = 'fake';
  readonly files = new Map<string, string>();
  readonly commands: (readonly string[])[] = [];
  /** The options of every `run`, in order (timeouts included). */
  readonly runOptions: RunOptions[] = [];
  /** `sync` calls so far. */
  syncs = 0;
  private state: 'open' | 'closed' = 'open';

  constructor(
    readonly id: string,
    private readonly runner: FakeSandboxRunner,
    readonly spec: SandboxOpenSpec,
  ) {}

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  async sync(files: readonly SandboxFile[], options: { signal: AbortSignal }): Promise<void> {
    this.assertOpen();
    const call = this.syncs++;
    const normalized = files.map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
    if (this.faultApplies(call)) await applyFault(this.runner.options.faults?.sync, options.signal, 'sync');
    await delay(this.runner.options.syncLatencyMs ?? 0, options.signal);
    this.files.clear();
    for (const file of normalized) this.files.set(file.path, file.content);
  }

  async readFile(path: string, options: { signal: AbortSignal }): Promise<string | undefined> {
    this.assertOpen();
    const normalized = normalizeRelativePath(path);
    await applyFault(this.runner.options.faults?.readFile, options.signal, 'readFile');
    return this.files.get(normalized);
  }

  async run(command: readonly string[], options: RunOptions): Promise<CommandResult> {
    this.assertOpen();
    const runIndex = this.commands.length;
    this.commands.push(command);
    this.runOptions.push(options);
    if (this.faultApplies(runIndex)) await applyFault(this.runner.options.faults?.run, options.signal, 'run');
    await delay(this.runner.options.runLatencyMs ?? 0, options.signal);
    const reportPath = reportPathOf(command);
    const acceptance = reportPath.startsWith('.ptc/acceptance/');
    const result = await this.scriptedResult(command, runIndex, acceptance);
    const failing = (result.failed?.length ?? 0) + (result.errored?.length ?? 0);
    const joined = (stream: 'stdout' | 'stderr') => (result.output ?? []).filter((piece) => piece.stream === stream).map((piece) => piece.chunk).join('');
    const stdout = result.stdout ?? joined('stdout');
    const stderr = result.stderr ?? joined('stderr');
    if (options.onOutput) {
      const pieces = result.output ?? [{ stream: 'stdout' as const, chunk: stdout }, { stream: 'stderr' as const, chunk: stderr }];
      for (const piece of pieces) {
        if (piece.delayMs) await delay(piece.delayMs, options.signal);
        try {
          if (piece.chunk !== '') options.onOutput(piece.stream, piece.chunk);
        } catch {
          // The contract: what the listener throws is ignored.
        }
      }
    }
    if (result.report !== null && !result.timedOut) {
      // The test files named on the command line (the agent's own config under .ptc/ is not one).
      const testFiles = acceptance ? command.filter((part) => this.files.has(part) && !part.startsWith('.ptc/')) : [];
      this.files.set(reportPath, result.report ?? junitXml(casesOf(result, testFiles)));
    }
    return {
      exitCode: result.timedOut ? null : result.exitCode !== undefined ? result.exitCode : failing > 0 ? 1 : 0,
      stdout,
      stderr,
      stdoutTruncated: false,
      stderrTruncated: false,
      timedOut: result.timedOut ?? false,
      durationMs: this.runner.options.runLatencyMs ?? 0,
    };
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.runner.markClosed();
    // The contract says close never throws; an injected close fault breaks that on purpose, so
    // tests can prove the agent survives adapters that do.
    const fault = this.runner.options.faults?.close;
    if (fault) throw fault;
  }

  private assertOpen(): void {
    if (this.state === 'closed') throw new SandboxError(`session ${this.id} is closed`);
  }

  private faultApplies(call: number): boolean {
    const only = this.runner.options.faultOnCall;
    return only === undefined || only === call;
  }

  private async scriptedResult(command: readonly string[], runIndex: number, acceptance: boolean): Promise<FakeTestResult> {
    const script = this.runner.options.results;
    if (script === undefined) return { passed: ['test_ok'] };
    if (typeof script === 'function') return script({ files: this.files, command, runIndex, acceptance });
    if (Array.isArray(script)) {
      const results = script as readonly FakeTestResult[];
      return results[Math.min(runIndex, results.length - 1)] ?? { passed: ['test_ok'] };
    }
    return script as FakeTestResult;
  }
}

/** Where the command writes its JUnit report. */
function reportPathOf(command: readonly string[]): string {
  for (const [index, part] of command.entries()) {
    if (part.startsWith('--junitxml=')) return part.slice('--junitxml='.length);
    if (part === '--test-reporter=junit' && command[index + 1]?.startsWith('--test-reporter-destination=')) {
      return command[index + 1]!.slice('--test-reporter-destination='.length);
    }
  }
  return REPORT_PATH;
}

function casesOf(result: FakeTestResult, files: readonly string[]): JUnitCaseInput[] {
  const cases = scriptedCases(result);
  if (files.length === 0) return cases;
  return files.flatMap((file) => cases.map((testCase) => ({ ...testCase, file })));
}

function scriptedCases(result: FakeTestResult): JUnitCaseInput[] {
  const named = (item: string | { name: string; message: string }) => (typeof item === 'string' ? { name: item, message: `${item} failed` } : item);
  return [
    ...(result.passed ?? []).map((name) => ({ name, status: 'passed' as const })),
    ...(result.failed ?? []).map((item) => ({ ...named(item), status: 'failed' as const })),
    ...(result.errored ?? []).map((item) => ({ ...named(item), status: 'errored' as const })),
    ...(result.skipped ?? []).map((name) => ({ name, status: 'skipped' as const })),
  ];
}

async function applyFault(fault: FakeFault | undefined, signal: AbortSignal, operation: string): Promise<void> {
  if (fault === undefined) return;
  if (fault === 'hang') {
    await new Promise<never>((_, reject) => {
      if (signal.aborted) reject(abortReason(signal));
      signal.addEventListener('abort', () => reject(abortReason(signal)), { once: true });
    });
  }
  if (fault === 'hang-ignoring-signal') await new Promise<never>(() => {});
  // Our own errors pass through as they are (a PathSafetyError stays one); others are wrapped.
  if (fault instanceof PTCError) throw fault;
  throw new SandboxError(`fake ${operation} failed: ${(fault as Error).message}`, {
    code: operation === 'open' ? 'SANDBOX_OPEN_FAILED' : 'SANDBOX_FAILED',
    cause: fault,
  });
}
