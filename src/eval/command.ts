import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { LocalSandboxRunner, type CodeGenerator, type LocalIsolation } from '../index.js';
import { OFFLINE_GENERATORS, OfflineCodeGenerator, type OfflineGeneratorKind } from './offline-generators.js';
import { EVAL_MODES, type EvalMode } from './problem-plan.js';
import { ProgressLine } from './progress.js';
import { headlineFigures, readReport, writeReport } from './report.js';
import { runEval } from './runner.js';
import { loadSuite, toGenericJsonl, type EvalProblem } from './suite.js';

export interface CommandOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface CommandIO {
  stdout: CommandOutput;
  stderr: CommandOutput;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborting it stops the eval: runs in flight are cancelled, the report keeps what finished. */
  signal?: AbortSignal;
}

export const USAGE = `ptc-eval — how good is a code-generation configuration, on problems nobody tuned it to?

Usage:
  ptc-eval run <suite.jsonl[.gz]> [options]     evaluate (\`run\` may be left out)
  ptc-eval convert <suite> <out.jsonl>           write a suite in the generic JSONL format

Suites: HumanEval's JSONL (task_id, prompt, entry_point, test), or the generic JSONL
(id, prompt, language, test, entryPoint?, solutionPath?, testPath?, reference?, dependencies?),
plain or gzipped.

Options of run:
  --generator <name>          anthropic | reference | repair | cheat
                              (default: anthropic when ANTHROPIC_API_KEY is set)
  --model <id>                Claude model for --generator anthropic (default: the generator's)
  --mode <mode>               held-out (default: the suite's tests never reach the model)
                              | acceptance (they are given to the model as acceptance tests)
  --limit <n>  --offset <n>  --filter <regexp>    which problems (filter on ids, then offset, then limit)
  --concurrency <n>           problems at once (default 2)
  --max-iterations <n>        generate/test rounds per problem (default 3)
  --timeout-ms <n>            wall-clock limit of one problem's run (default 300000)
  --held-out-timeout-ms <n>   limit of the held-out test command (default 120000)
  --max-tokens-per-problem <n>  --max-cost-per-problem <usd>   budget of one problem
  --max-tokens <n>  --max-cost <usd>                            budget of the whole eval
  --report <path.json>        where the JSON report goes; the Markdown one goes beside it
                              (default eval-report.json)
  --resume                    continue the report at --report: problems in it are skipped
  --overwrite                 replace an existing report instead
  --isolation <mode>          auto (default) | bwrap | none, for the local sandbox runner
  --sandbox-env <KEY=VALUE>   environment of every test command (repeatable)
  --quiet                     no summary at the end
  -h, --help
`;

class UsageError extends Error {}

function integer(name: string, text: string | undefined, minimum = 1): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < minimum) throw new UsageError(`--${name} must be an integer >= ${minimum}, got ${JSON.stringify(text)}`);
  return value;
}

function amount(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(text)}`);
  return value;
}

function oneOf<T extends string>(name: string, text: string | undefined, values: readonly T[]): T | undefined {
  if (text === undefined) return undefined;
  if (!values.includes(text as T)) throw new UsageError(`--${name} must be one of ${values.join(', ')}, got ${JSON.stringify(text)}`);
  return text as T;
}

/** Runs the command line; resolves with the exit code. Never calls process.exit. */
export async function runCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`ptc-eval: ${error.message}\nRun ptc-eval --help for the options.\n`);
      return 2;
    }
    io.stderr.write(`ptc-eval: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

async function dispatch(argv: readonly string[], io: CommandIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        generator: { type: 'string' },
        model: { type: 'string' },
        mode: { type: 'string' },
        limit: { type: 'string' },
        offset: { type: 'string' },
        filter: { type: 'string' },
        concurrency: { type: 'string' },
        'max-iterations': { type: 'string' },
        'timeout-ms': { type: 'string' },
        'held-out-timeout-ms': { type: 'string' },
        'max-tokens-per-problem': { type: 'string' },
        'max-cost-per-problem': { type: 'string' },
        'max-tokens': { type: 'string' },
        'max-cost': { type: 'string' },
        report: { type: 'string' },
        resume: { type: 'boolean' },
        overwrite: { type: 'boolean' },
        isolation: { type: 'string' },
        'sandbox-env': { type: 'string', multiple: true },
        quiet: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  const [first, ...rest] = positionals;
  if (first === undefined) throw new UsageError('a suite file is required');
  if (first === 'convert') {
    if (rest.length !== 2) throw new UsageError('convert takes a suite and an output path');
    const suite = await loadSuite(rest[0]!);
    await writeFile(rest[1]!, toGenericJsonl(suite.problems));
    io.stdout.write(`wrote ${suite.problems.length} problem(s) of ${rest[0]} (${suite.format}) to ${rest[1]} in the generic format\n`);
    return 0;
  }
  const suitePath = first === 'run' ? rest[0] : first;
  const extra = first === 'run' ? rest.slice(1) : rest;
  if (suitePath === undefined) throw new UsageError('a suite file is required');
  if (extra.length > 0) throw new UsageError(`unexpected argument(s): ${extra.join(' ')}`);

  const mode = oneOf<EvalMode>('mode', values.mode, EVAL_MODES) ?? 'held-out';
  const isolation = oneOf<LocalIsolation>('isolation', values.isolation, ['auto', 'bwrap', 'none']) ?? 'auto';
  const generatorName = oneOf('generator', values.generator, ['anthropic', ...OFFLINE_GENERATORS]) ?? (io.env.ANTHROPIC_API_KEY ? 'anthropic' : undefined);
  if (generatorName === undefined) {
    throw new UsageError(`no generator: set ANTHROPIC_API_KEY to evaluate Claude, or pass --generator ${OFFLINE_GENERATORS.join('|')} for an offline run that calls no model`);
  }
  if (values.model !== undefined && generatorName !== 'anthropic') throw new UsageError('--model applies to --generator anthropic only');
  if (values.resume && values.overwrite) throw new UsageError('--resume and --overwrite exclude each other');
  let filter: RegExp | undefined;
  if (values.filter !== undefined) {
    if (values.filter.length > 500) throw new UsageError('--filter is longer than 500 characters');
    try {
      filter = new RegExp(values.filter);
    } catch (error) {
      throw new UsageError(`--filter is not a regular expression: ${(error as Error).message}`);
    }
  }
  const sandboxEnv: Record<string, string> = {};
  for (const entry of values['sandbox-env'] ?? []) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(entry);
    if (!match) throw new UsageError(`--sandbox-env must be KEY=VALUE, got ${JSON.stringify(entry)}`);
    sandboxEnv[match[1]!] = match[2]!;
  }
  const limit = integer('limit', values.limit, 0);
  const offset = integer('offset', values.offset, 0);
  const concurrency = integer('concurrency', values.concurrency);
  const maxIterations = integer('max-iterations', values['max-iterations']);
  const timeoutMs = integer('timeout-ms', values['timeout-ms']);
  const heldOutTimeoutMs = integer('held-out-timeout-ms', values['held-out-timeout-ms']);
  const maxTokensPerProblem = integer('max-tokens-per-problem', values['max-tokens-per-problem']);
  const maxTokens = integer('max-tokens', values['max-tokens']);
  const maxCostUsdPerProblem = amount('max-cost-per-problem', values['max-cost-per-problem']);
  const maxCostUsd = amount('max-cost', values['max-cost']);
  const reportPath = values.report ?? 'eval-report.json';

  const existing = values.overwrite ? undefined : await readReport(reportPath);
  if (existing && !values.resume && !values.overwrite) {
    throw new UsageError(`${reportPath} exists: pass --resume to continue it (its problems are skipped) or --overwrite to replace it`);
  }
  const suite = await loadSuite(suitePath);
  const generator = await createGenerator(generatorName, suite.problems, values.model);
  const runner = new LocalSandboxRunner({ isolation, onWarning: (message) => io.stderr.write(`warning: ${message}\n`) });

  const progress = new ProgressLine(io.stdout);
  const report = await runEval({
    suite,
    generator,
    runner,
    mode,
    selection: { ...(limit !== undefined ? { limit } : {}), ...(offset !== undefined ? { offset } : {}), ...(filter ? { filter } : {}) },
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(maxIterations !== undefined ? { maxIterations } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(heldOutTimeoutMs !== undefined ? { heldOutTimeoutMs } : {}),
    budget: {
      ...(maxTokensPerProblem !== undefined ? { maxTokensPerProblem } : {}),
      ...(maxCostUsdPerProblem !== undefined ? { maxCostUsdPerProblem } : {}),
      ...(maxTokens !== undefined ? { maxTokens } : {}),
      ...(maxCostUsd !== undefined ? { maxCostUsd } : {}),
    },
    ...(values.resume && existing ? { resume: existing } : {}),
    agentOptions: { sandboxEnv },
    ...(io.signal ? { signal: io.signal } : {}),
    onProgress: (state) => progress.update(state),
    onReport: async (state) => {
      await writeReport(reportPath, state);
    },
  });
  progress.done();
  const paths = await writeReport(reportPath, report);
  if (!values.quiet) {
    const { config, summary } = report;
    io.stdout.write(`${config.generator} on ${config.suite} (${config.mode}, up to ${config.maxIterations} iteration(s))${report.complete ? '' : ' — incomplete'}\n`);
    const width = Math.max(...headlineFigures(summary).map(([name]) => name.length));
    for (const [name, value] of headlineFigures(summary)) io.stdout.write(`  ${name.padEnd(width)}  ${value}\n`);
    if (report.stoppedBecause) io.stdout.write(`  stopped early: ${report.stoppedBecause}\n`);
    io.stdout.write(`report: ${paths.json}, ${paths.markdown}\n`);
  }
  return io.signal?.aborted ? 130 : 0;
}

async function createGenerator(name: string, problems: readonly EvalProblem[], model: string | undefined): Promise<CodeGenerator> {
  if (name !== 'anthropic') return new OfflineCodeGenerator(name as OfflineGeneratorKind, problems);
  let module: typeof import('../generators/anthropic.js');
  try {
    module = await import('../generators/anthropic.js');
  } catch (error) {
    throw new Error(`--generator anthropic needs @anthropic-ai/sdk: npm install @anthropic-ai/sdk (${(error as Error).message})`);
  }
  return new module.AnthropicCodeGenerator(model === undefined ? {} : { model });
}
