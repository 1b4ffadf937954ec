import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest } from '../internal/validate.js';

/** A mistake in how the CLI was called: reported with the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

const SHARED: OptionSpec = {
  out: { type: 'string', short: 'o' },
  overwrite: { type: 'boolean' },
  json: { type: 'boolean' },
  isolation: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export const COMMANDS: Record<'run' | 'demo', OptionSpec> = {
  run: {
    ...SHARED,
    generator: { type: 'string', short: 'g' },
    script: { type: 'string' },
    model: { type: 'string' },
    'max-iterations': { type: 'string' },
    'timeout-ms': { type: 'string' },
  },
  demo: SHARED,
};

export type CommandName = keyof typeof COMMANDS;

export interface ParsedCommand {
  command: CommandName;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Control characters of hostile input never reach the terminal verbatim. */
export function printable(text: string): string {
  return JSON.stringify(text).slice(1, -1);
}

/**
 * Parses `argv` (after `node cli.js`). An unknown command or flag is a UsageError naming the
 * closest known one; so is a missing or extra value.
 */
export function parseCommandLine(argv: readonly string[]): ParsedCommand | { command: 'help' | 'version'; topic?: string } {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    return rest[0] !== undefined && rest[0] in COMMANDS ? { command: 'help', topic: rest[0] } : { command: 'help' };
  }
  if (first === '--version' || first === '-v') return { command: 'version' };
  if (!(first in COMMANDS)) {
    const known = [...Object.keys(COMMANDS), 'help'];
    const guess = first.startsWith('-') ? undefined : closest(first, known);
    throw new UsageError(`unknown command '${printable(first)}'${guess ? `; did you mean '${guess}'?` : ''} (commands: ${known.join(', ')})`);
  }
  const command = first as CommandName;
  const options = COMMANDS[command];
  // First pass, lenient, only to name unknown flags with a suggestion (node's own message has none).
  const { tokens } = parseArgs({ args: rest, options, strict: false, allowPositionals: true, tokens: true });
  const longNames = Object.keys(options);
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name in options) continue;
    const shorts = Object.entries(options).flatMap(([name, spec]) => (spec.short === token.name ? [name] : []));
    if (shorts.length > 0) continue;
    const guess = closest(token.name, longNames);
    throw new UsageError(`unknown option '${printable(token.rawName)}' for '${command}'${guess ? `; did you mean '--${guess}'?` : ''}`);
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument.*$/s, ''));
  }
  return { command, values: parsed.values as ParsedCommand['values'], positionals: parsed.positionals };
}

/** A flag's value as an integer within bounds; the schema still checks the plan afterwards. */
export function integerFlag(values: ParsedCommand['values'], name: string, min: number, max: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${printable(String(raw))}'`);
  }
  return value;
}

/** A flag whose value is one of a few words. */
export function choiceFlag<Choice extends string>(value: string | undefined, name: string, choices: readonly Choice[]): Choice | undefined {
  if (value === undefined) return undefined;
  if ((choices as readonly string[]).includes(value)) return value as Choice;
  const guess = closest(value, choices);
  throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${printable(value)}'${guess ? `; did you mean '${guess}'?` : ''}`);
}

export const HELP = {
  main: `ptc-agent — Prompt → Test → Code from the command line

Usage:
  ptc-agent run <plan.json | -> [options]   run a plan; '-' reads it from stdin
  ptc-agent demo [options]                  the offline demo (a scripted generator, real tests)
  ptc-agent help [command]                  this text, or a command's options
  ptc-agent --version

Exit codes:
  0 success · 1 error (e.g. writing --out) · 2 usage (bad flags, invalid plan or script,
  missing API key or SDK; nothing ran) · 3 partial_success · 4 failure · 5 timeout · 130 cancelled
`,
  run: `Usage: ptc-agent run <plan.json | -> [options]

Options:
  -g, --generator <anthropic|scripted>  who writes the code (env PTC_GENERATOR; default anthropic,
                                        or scripted when --script is given)
      --script <file.json>              the scripted generator's answers, one entry per iteration
                                        (env PTC_SCRIPT)
      --model <id>                      Anthropic model (env ANTHROPIC_MODEL); needs ANTHROPIC_API_KEY
      --max-iterations <n>              overrides the plan's maxIterations (1-10)
      --timeout-ms <ms>                 overrides the plan's timeoutMs
  -o, --out <dir>                       write the bundle's files there (refuses to replace files)
      --overwrite                       with --out: replace existing files
      --json                            print the bundle as one JSON document on stdout
      --isolation <auto|bwrap|none>     the local runner's jail (default auto)
  -h, --help
`,
  demo: `Usage: ptc-agent demo [options]

Runs a small JavaScript task offline: a scripted generator (no model is called) writes a buggy
slugify, then a fix; the local runner runs the real tests with node --test.

Options:
  -o, --out <dir>                   write the green files there
      --overwrite                   with --out: replace existing files
      --json                        print the bundle as one JSON document on stdout
      --isolation <auto|bwrap|none> the local runner's jail (default auto)
  -h, --help
`,
};
