import { readFileSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { PTCAgent } from '../agent.js';
import type { ArtifactBundle } from '../bundle.js';
import type { CodeGenerator } from '../contracts/code-generator.js';
import { PlanValidationError, PTCAbortError } from '../errors.js';
import { type Plan, parsePlan } from '../plan.js';
import { LocalSandboxRunner } from '../runners/local.js';
import { scriptByIteration } from '../testing/script-file.js';
import { ScriptedCodeGenerator } from '../testing/scripted-generator.js';
import { totalTokens } from '../usage.js';
import { writeBundle } from '../write-bundle.js';
import { HELP, type ParsedCommand, UsageError, choiceFlag, integerFlag, parseCommandLine, printable } from './args.js';
import { DEMO_PLAN, DEMO_SCRIPT } from './demo.js';
import { EXIT_CODES, exitCodeFor } from './exit-codes.js';
import { chooseGenerator } from './generator.js';
import { Progress, formatCost, formatDuration, formatTokens, progressMode, terminalSafe } from './progress.js';

/** What the CLI touches of its process, so the same code runs in tests with other streams. */
export interface CLIProcess {
  argv: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  cwd: string;
  /** Registers the handler for SIGINT/SIGTERM; returns the unsubscribe. */
  onSignal(handler: (signal: NodeJS.Signals) => void): () => void;
  /** Ends the process at once (a second Ctrl-C). */
  exit(code: number): never;
}

/** A plan is read whole; bounded so `ptc-agent run /dev/zero` fails instead of eating memory. */
const MAX_PLAN_BYTES = 64 * 1024 * 1024;

const ISOLATIONS = ['auto', 'bwrap', 'none'] as const;

/** Runs the CLI; resolves with the exit code. Never throws: every failure has its code. */
export async function main(io: CLIProcess): Promise<number> {
  try {
    const parsed = parseCommandLine(io.argv);
    if (parsed.command === 'version') {
      io.stdout.write(`${packageVersion()}\n`);
      return EXIT_CODES.success;
    }
    if (!('values' in parsed)) {
      io.stdout.write(parsed.topic === 'run' ? HELP.run : parsed.topic === 'demo' ? HELP.demo : HELP.main);
      return EXIT_CODES.success;
    }
    if (parsed.values.help === true) {
      io.stdout.write(HELP[parsed.command]);
      return EXIT_CODES.success;
    }
    return parsed.command === 'run' ? await runCommand(parsed, io) : await demoCommand(parsed, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`ptc-agent: ${error.message}\nRun 'ptc-agent help' for usage.\n`);
      return EXIT_CODES.usage;
    }
    io.stderr.write(`ptc-agent: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_CODES.error;
  }
}

async function runCommand(parsed: ParsedCommand, io: CLIProcess): Promise<number> {
  const [planPath, ...extra] = parsed.positionals;
  if (planPath === undefined) throw new UsageError("run needs a plan: ptc-agent run plan.json (or '-' for stdin)");
  if (extra.length > 0) throw new UsageError(`run takes one plan, got also '${printable(extra.join(' '))}'`);
  const maxIterations = integerFlag(parsed.values, 'max-iterations', 1, 10);
  const timeoutMs = integerFlag(parsed.values, 'timeout-ms', 1, 3_600_000);
  const shared = sharedFlags(parsed);
  // The generator first: a missing key or SDK is reported before stdin is waited on.
  const chosen = await chooseGenerator(
    { generator: stringFlag(parsed, 'generator'), script: stringFlag(parsed, 'script'), model: stringFlag(parsed, 'model') },
    io.env,
  );
  const raw = await readPlan(planPath, io);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`${planSource(planPath)}: a plan is a JSON object`);
  const overridden: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if (maxIterations !== undefined) overridden.maxIterations = maxIterations;
  if (timeoutMs !== undefined) overridden.timeoutMs = timeoutMs;
  let plan: Plan;
  try {
    plan = parsePlan(overridden);
  } catch (error) {
    if (!(error instanceof PlanValidationError)) throw error;
    const issues = error.issues.map((issue) => `  ${issue.path || '(plan)'}: ${terminalSafe(issue.message, 300)}`).join('\n');
    throw new UsageError(`${planSource(planPath)} is not a valid plan:\n${issues}`);
  }
  return execute(io, { ...shared, plan, generator: chosen.generator, generatorLabel: chosen.label, secrets: chosen.secrets });
}

async function demoCommand(parsed: ParsedCommand, io: CLIProcess): Promise<number> {
  if (parsed.positionals.length > 0) throw new UsageError(`demo takes no arguments, got '${printable(parsed.positionals.join(' '))}'`);
  // A little latency, so the phases can be watched; the scripted answers cost no tokens.
  const generator = new ScriptedCodeGenerator(scriptByIteration(DEMO_SCRIPT), { id: 'scripted-demo', latencyMs: 300, progressTokens: 120 });
  return execute(io, {
    ...sharedFlags(parsed),
    plan: parsePlan(DEMO_PLAN),
    generator,
    generatorLabel: 'SCRIPTED (a buggy attempt, then a fix; no model is called)',
    secrets: [],
  });
}

interface Execution {
  plan: Plan;
  generator: CodeGenerator;
  generatorLabel: string;
  secrets: string[];
  json: boolean;
  out: string | undefined;
  overwrite: boolean;
  isolation: (typeof ISOLATIONS)[number];
}

/** One run: progress while it works, Ctrl-C to cancel it cleanly, the bundle reported at the end. */
async function execute(io: CLIProcess, execution: Execution): Promise<number> {
  const mode = progressMode({ json: execution.json, stdoutIsTTY: io.stdout.isTTY === true, stderrIsTTY: io.stderr.isTTY === true, stderrColumns: io.stderr.columns, env: io.env });
  const progress = await Progress.create(mode, io.stderr);
  const runner = new LocalSandboxRunner({ isolation: execution.isolation, onWarning: (message) => progress.warning(terminalSafe(message, 300)) });
  // One run per process: a cache could only ever miss.
  const agent = new PTCAgent({ generator: execution.generator, runner, cache: false, secrets: execution.secrets });
  progress.attach(agent);

  const controller = new AbortController();
  let interrupts = 0;
  const unsubscribe = io.onSignal((signal) => {
    interrupts += 1;
    if (interrupts > 1) {
      progress.stop();
      io.stderr.write(`ptc-agent: ${signal} again: quitting now; the sandbox may be left behind\n`);
      io.exit(EXIT_CODES.cancelled);
    }
    progress.cancelling(signal);
    controller.abort(new PTCAbortError(`interrupted by ${signal}`));
  });

  let bundle: ArtifactBundle;
  try {
    const isolation = await runner.effectiveIsolation();
    progress.line(`ptc-agent · generator ${terminalSafe(execution.generatorLabel, 200)} · local runner (isolation: ${isolation}) · ${execution.plan.language}`);
    bundle = await agent.execute(execution.plan, { signal: controller.signal });
  } finally {
    // Waits for any cleanup that outlived the run (a sandbox still opening) before the process exits.
    await agent.close();
    progress.stop();
    unsubscribe();
  }

  let written: string[] | undefined;
  let writeError: Error | undefined;
  if (execution.out !== undefined && bundle.files.length > 0) {
    try {
      written = (await writeBundle(bundle, resolve(io.cwd, execution.out), { overwrite: execution.overwrite })).written;
    } catch (error) {
      writeError = error as Error;
    }
  }

  if (execution.json) io.stdout.write(`${JSON.stringify(bundle)}\n`);
  else io.stdout.write(summary(bundle, execution.out === undefined ? undefined : resolve(io.cwd, execution.out), written));
  if (writeError !== undefined) {
    io.stderr.write(`ptc-agent: could not write the files to ${execution.out}: ${terminalSafe(writeError.message, 500)}${execution.overwrite ? '' : ' (--overwrite replaces existing files)'}\n`);
    return EXIT_CODES.error;
  }
  return exitCodeFor(bundle.status);
}

function summary(bundle: ArtifactBundle, out: string | undefined, written: string[] | undefined): string {
  const lines: string[] = [];
  const report = bundle.testReport;
  const tests = report ? `${report.passed} passed, ${report.failed + report.errored} failed` : 'no test run';
  const iterations = `${bundle.iterations.length} iteration${bundle.iterations.length === 1 ? '' : 's'}`;
  lines.push(
    `${bundle.status} (${bundle.stopReason}) after ${iterations} · ${tests} · ${formatTokens(totalTokens(bundle.usage))} · ${formatCost(bundle.usage.costUsd ?? 0, bundle.usage.costUsd !== null)} · ${formatDuration(bundle.timings.totalMs)}`,
  );
  if (bundle.error !== undefined) lines.push(`reason: ${bundle.error.code}: ${terminalSafe(bundle.error.message, 1_000)}`);
  const failing = bundle.status === 'success' ? [] : (report?.cases ?? []).filter((testCase) => testCase.status === 'failed' || testCase.status === 'errored');
  for (const testCase of failing.slice(0, 5)) {
    lines.push(`  ${testCase.status} ${terminalSafe(testCase.name, 200)}: ${terminalSafe((testCase.message ?? '').split('\n')[0] ?? '', 300)}`);
  }
  if (failing.length > 5) lines.push(`  … and ${failing.length - 5} more (--json has them all)`);
  if (written !== undefined) {
    lines.push(`files written under ${out}:`);
    for (const path of written) lines.push(`  ${terminalSafe(path, 1_000)}`);
  } else if (bundle.files.length > 0) {
    lines.push(`files (not written${out === undefined ? '; --out <dir> writes them' : ''}):`);
    for (const file of bundle.files) lines.push(`  ${terminalSafe(file.path, 1_000)}`);
  }
  return `${lines.join('\n')}\n`;
}

function sharedFlags(parsed: ParsedCommand): Pick<Execution, 'json' | 'out' | 'overwrite' | 'isolation'> {
  const out = stringFlag(parsed, 'out');
  if (parsed.values.overwrite === true && out === undefined) throw new UsageError('--overwrite applies to --out <dir>');
  if (out !== undefined && out.trim() === '') throw new UsageError('--out needs a directory');
  return {
    json: parsed.values.json === true,
    out,
    overwrite: parsed.values.overwrite === true,
    isolation: choiceFlag(stringFlag(parsed, 'isolation'), 'isolation', ISOLATIONS) ?? 'auto',
  };
}

function stringFlag(parsed: ParsedCommand, name: string): string | undefined {
  const value = parsed.values[name];
  return typeof value === 'string' ? value : undefined;
}

function planSource(path: string): string {
  return path === '-' ? 'the plan on stdin' : `'${printable(path)}'`;
}

async function readPlan(path: string, io: CLIProcess): Promise<unknown> {
  let text: string;
  try {
    text = path === '-' ? await readStream(io.stdin) : await readBounded(resolve(io.cwd, path));
  } catch (error) {
    throw new UsageError(`cannot read ${planSource(path)}: ${terminalSafe((error as Error).message, 300)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${planSource(path)} is not JSON: ${terminalSafe((error as Error).message, 300)}`);
  }
}

async function readBounded(path: string): Promise<string> {
  const buffer = await readFile(path);
  if (buffer.byteLength > MAX_PLAN_BYTES) throw new Error(`larger than ${MAX_PLAN_BYTES} bytes`);
  return buffer.toString('utf8');
}

async function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    bytes += buffer.byteLength;
    if (bytes > MAX_PLAN_BYTES) throw new Error(`larger than ${MAX_PLAN_BYTES} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The version in our package.json, found from the running script: dist/cli.js in an installed
 * package, src/cli/index.ts under tsx (import.meta is not available to the CommonJS build).
 */
function packageVersion(): string {
  let directory = dirname(realpathSync(process.argv[1] ?? '.'));
  for (let level = 0; level < 4; level += 1) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === 'ptc-agent' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // Not here: one level up.
    }
    directory = dirname(directory);
  }
  return 'unknown';
}
