import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { GeneratedFileSchema } from '../bundle.js';
import type { GenerationRequest } from '../contracts/code-generator.js';
import { GenerationError } from '../errors.js';
import type { ScriptedStep } from './scripted-generator.js';

/**
 * A generator script on disk (the CLI's `--script`, the ROMA example's `PTC_SCRIPT`): a JSON
 * array with one entry per iteration (the last repeats). An entry is a list of files
 * (`{ path, content, kind?, language?, description? }`), or `{ "error": "…" }` to make that
 * iteration's generation fail (`"retryable": true` to let the next iteration try again).
 */
export const GeneratorScriptFileSchema = z
  .array(
    z.union([
      z.array(GeneratedFileSchema).min(1, { error: 'an iteration needs at least one file' }),
      z.strictObject({ error: z.string().min(1), retryable: z.boolean().default(false) }),
    ]),
  )
  .min(1, { error: 'the script needs at least one iteration' });

/** A script file is read whole; this bounds what a wrong path (a log, a device) can cost. */
const MAX_SCRIPT_BYTES = 64 * 1024 * 1024;

export interface LoadGeneratorScriptOptions {
  /** Prefixes every error message, naming where the path came from. @default 'script' */
  label?: string;
}

/**
 * Validates a parsed script file and turns it into steps for `ScriptedCodeGenerator`.
 * @throws TypeError naming the label and every problem.
 */
export function parseGeneratorScript(json: unknown, options: LoadGeneratorScriptOptions & { source?: string } = {}): ScriptedStep[] {
  const label = options.label ?? 'script';
  const parsed = GeneratorScriptFileSchema.safeParse(json);
  if (!parsed.success) throw new TypeError(`${label}: ${options.source ?? 'the script'} is not a valid script:\n${z.prettifyError(parsed.error)}`);
  return parsed.data.map((entry) =>
    Array.isArray(entry) ? { files: entry } : { error: new GenerationError(entry.error, { retryable: entry.retryable }) },
  );
}

/**
 * Reads and validates a script file.
 * @throws TypeError naming the label and the path: unreadable, not JSON, or not a valid script.
 */
export async function loadGeneratorScript(path: string, options: LoadGeneratorScriptOptions = {}): Promise<ScriptedStep[]> {
  const label = options.label ?? 'script';
  let text: string;
  try {
    const buffer = await readFile(path);
    if (buffer.byteLength > MAX_SCRIPT_BYTES) throw new Error(`larger than ${MAX_SCRIPT_BYTES} bytes`);
    text = buffer.toString('utf8');
  } catch (error) {
    throw new TypeError(`${label}: cannot read ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TypeError(`${label}: ${path} is not JSON: ${(error as Error).message}`);
  }
  return parseGeneratorScript(json, { label, source: path });
}

/**
 * Answers iteration n of every run with step n (the last repeats): the meaning of a script file.
 * Pass it to `ScriptedCodeGenerator`, which on its own counts calls across runs instead.
 */
export function scriptByIteration(steps: readonly ScriptedStep[]): (request: GenerationRequest) => ScriptedStep {
  if (steps.length === 0) throw new TypeError('a script needs at least one step');
  return (request) => steps[Math.min(Math.max(request.iteration, 1) - 1, steps.length - 1)]!;
}
