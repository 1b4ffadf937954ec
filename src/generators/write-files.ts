import { z } from 'zod';
import { GeneratedFileSchema, type GeneratedFileInput, type Usage } from '../bundle.js';
import type { GenerationRequest, GenerationResult } from '../contracts/code-generator.js';
import { GenerationError } from '../errors.js';
import type { Redactor } from '../internal/redact.js';
import { totalUsage, type CallUsage, type ProgressReporter } from './accounting.js';
import { buildGenerationPrompt, buildRetryNote, type GenerationPrompt, type PromptLimits } from './prompts.js';

/**
 * The answer shape every tool-calling generator in this package shares: the model answers with
 * one `write_files` tool call, validated with zod; an answer that cannot be used is asked for once
 * more with the problem stated, then becomes `GENERATION_OUTPUT_INVALID`. Provider adapters only
 * translate their SDK's tool call into `unknown` inputs and a finish state.
 */

/** Name of the tool the model must answer with. */
export const WRITE_FILES_TOOL_NAME = 'write_files';

export const WRITE_FILES_TOOL_DESCRIPTION =
  'Write the complete set of project files: the implementation and its tests (never the read-only acceptance tests). ' +
  'Every call replaces all files of the previous attempt, so include every file, changed or not.';

/**
 * Hand-written rather than derived from zod: strict tool schemas accept only a subset of JSON
 * Schema (no length bounds), and `WriteFilesInputSchema` checks those after the call anyway.
 */
export const WRITE_FILES_INPUT_JSON_SCHEMA = {
  type: 'object',
  properties: {
    files: {
      type: 'array',
      description: 'Every file of the project except the acceptance tests.',
      items: {
        type: 'object',
        properties: {
          path: { type: 'string', description: 'Relative POSIX path from the project root, e.g. "src/calculator.py".' },
          content: { type: 'string', description: 'The complete file content.' },
          kind: {
            type: 'string',
            enum: ['source', 'test', 'config', 'documentation', 'data'],
            description: '"test" for every file the test runner must execute.',
          },
          description: { type: 'string', description: 'One line on what the file is for.' },
        },
        required: ['path', 'content', 'kind'],
        additionalProperties: false,
      },
    },
    notes: {
      type: 'string',
      description: 'Short notes: what changed and why; when you changed one of your own tests because it was wrong, which test and why.',
    },
  },
  required: ['files'],
  additionalProperties: false,
} as const;

/** The `write_files` tool's input, validated after every call: the model's output is untrusted. */
export const WriteFilesInputSchema = z.object({
  files: z.array(GeneratedFileSchema).min(1, { error: 'must contain at least one file' }),
  notes: z.string().optional(),
});
export type WriteFilesInput = z.output<typeof WriteFilesInputSchema>;

/** The sentence that ends the system prompt and every iteration's instructions. */
export const WRITE_FILES_OUTPUT_INSTRUCTION =
  `Answer by calling the ${WRITE_FILES_TOOL_NAME} tool exactly once with the complete set of files and short notes. ` +
  'Do not answer with text alone: only the tool call is read.';

const MAX_NOTES_CHARS = 4_000;
const MAX_QUOTED_TEXT_CHARS = 300;
const MAX_ISSUES = 10;

/** What one model answer amounts to: files, or the problem to state when asking again. */
export type WriteFilesAnswer = { ok: true; files: GeneratedFileInput[]; notes: string | undefined } | { ok: false; problem: string };

/** Problem statements shared by the adapters, so every model hears the same words. */
export const answerProblems = {
  refusal: (reason: string) =>
    `The answer was a refusal (${reason}). The task is ordinary software work; write the requested code and tests.`,
  truncated: (limit: string) =>
    `The answer was cut off at ${limit} before the ${WRITE_FILES_TOOL_NAME} call was complete. ` +
    'Make it fit: write compact code and focused tests, without long comments, docstrings or documentation files.',
  invalidJson: (detail: string) => `The ${WRITE_FILES_TOOL_NAME} input was not valid JSON (${detail}).`,
  noToolCall: (text: string) => {
    const trimmed = text.trim();
    const quoted = trimmed
      ? ` It answered with text instead: "${trimmed.length > MAX_QUOTED_TEXT_CHARS ? `${trimmed.slice(0, MAX_QUOTED_TEXT_CHARS)}…` : trimmed}"`
      : '';
    return `The answer did not call the ${WRITE_FILES_TOOL_NAME} tool.${quoted} Call ${WRITE_FILES_TOOL_NAME} with the files.`;
  },
};

/**
 * Validates the inputs of every `write_files` call of one answer (normally one) and merges their
 * files. `inputs` must not be empty: a missing call is the adapter's `answerProblems.noToolCall`.
 */
export function readWriteFilesInputs(inputs: readonly unknown[]): WriteFilesAnswer {
  const files: GeneratedFileInput[] = [];
  const notes: string[] = [];
  for (const input of inputs) {
    const parsed = WriteFilesInputSchema.safeParse(unwrapStringifiedFiles(input));
    if (!parsed.success) {
      const issues = parsed.error.issues.slice(0, MAX_ISSUES).map((issue) => `${issue.path.map(String).join('.') || 'input'}: ${issue.message}`);
      const more = parsed.error.issues.length > MAX_ISSUES ? ` (and ${parsed.error.issues.length - MAX_ISSUES} more)` : '';
      return { ok: false, problem: `The ${WRITE_FILES_TOOL_NAME} input did not match its schema: ${issues.join('; ')}${more}.` };
    }
    files.push(...parsed.data.files);
    if (parsed.data.notes) notes.push(parsed.data.notes);
  }
  return { ok: true, files, notes: notes.length > 0 ? notes.join('\n') : undefined };
}

/** Some models send a nested array as a JSON string; accept it when it parses. */
function unwrapStringifiedFiles(input: unknown): unknown {
  if (input && typeof input === 'object' && typeof (input as { files?: unknown }).files === 'string') {
    try {
      return { ...input, files: JSON.parse((input as { files: string }).files) as unknown };
    } catch {
      return input;
    }
  }
  return input;
}

export interface OneRetryPolicy {
  /**
   * Asks the model once; `retryNote` (from `buildRetryNote`) is set on the second ask. Resolves
   * with the answer or the problem to state. Throws for failures that are not the answer's fault
   * (transport, auth, abort): those end the generation at once.
   */
  ask(retryNote: string | undefined): Promise<WriteFilesAnswer>;
  /** Called with the first answer's problem, before asking again. */
  onRetry(problem: string): void;
  /** Usage of every call so far: it goes into the result or the error. */
  usage(): Usage;
  /** Redacts secrets from text headed for an error message. */
  redact(text: string): string;
}

/**
 * One answer, and one retry with the problem stated; a second unusable answer is a retryable
 * `GenerationError` with code `GENERATION_OUTPUT_INVALID` (the run's next iteration may succeed).
 */
export async function generateWithOneRetry(
  policy: OneRetryPolicy,
  buildRetryNote: (problem: string) => string,
): Promise<GenerationResult> {
  let problem: string | undefined;
  for (let answer = 1; answer <= 2; answer += 1) {
    const outcome = await policy.ask(problem === undefined ? undefined : buildRetryNote(problem));
    if (outcome.ok) {
      const notes = outcome.notes?.trim();
      return {
        files: outcome.files,
        usage: policy.usage(),
        ...(notes ? { notes: notes.length > MAX_NOTES_CHARS ? `${notes.slice(0, MAX_NOTES_CHARS)}…` : notes } : {}),
      };
    }
    problem = outcome.problem;
    if (answer === 1) policy.onRetry(problem);
  }
  throw new GenerationError(policy.redact(`The model's answer could not be used, also after one retry: ${problem ?? 'unknown problem'}`), {
    code: 'GENERATION_OUTPUT_INVALID',
    usage: policy.usage(),
  });
}

/**
 * `generateWithOneRetry` as the SDK adapters run it: the usage is that of every call of this
 * `generate`, progress says why it asks again, and their redactor cleans what reaches an error.
 */
export function generateFromCalls(
  ask: OneRetryPolicy['ask'],
  tracking: { calls: readonly CallUsage[]; progress: ProgressReporter; redactor: Redactor },
): Promise<GenerationResult> {
  const { calls, progress, redactor } = tracking;
  return generateWithOneRetry(
    {
      ask,
      onRetry: (problem) => progress.report({ message: `the answer could not be used (${redactor.text(problem)}); asking again` }),
      usage: () => totalUsage(calls),
      redact: (text) => redactor.text(text),
    },
    buildRetryNote,
  );
}

/** The prompt for a model that answers with `write_files`; `systemPrompt` replaces the built-in one. */
export function buildWriteFilesPrompt(
  request: GenerationRequest,
  options: { systemPrompt: string | undefined; limits: PromptLimits },
): GenerationPrompt {
  return buildGenerationPrompt(request, {
    outputInstruction: WRITE_FILES_OUTPUT_INSTRUCTION,
    ...(options.systemPrompt !== undefined ? { systemPrompt: options.systemPrompt } : {}),
    limits: options.limits,
  });
}
