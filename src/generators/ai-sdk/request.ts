import { jsonSchema, type JSONSchema7, type ModelMessage, type Tool, type ToolChoice } from 'ai';
import type { GenerationPrompt } from '../prompts.js';
import { WRITE_FILES_INPUT_JSON_SCHEMA, WRITE_FILES_TOOL_DESCRIPTION, WRITE_FILES_TOOL_NAME } from '../write-files.js';
import type { AiSdkToolChoice } from './options.js';

export type WriteFilesTools = Record<typeof WRITE_FILES_TOOL_NAME, Tool>;

/** What one ask sends: the prompt, the note of a second ask, the output limit of this call. */
export interface AskInput {
  prompt: GenerationPrompt;
  retryNote: string | undefined;
  maxOutputTokens: number | undefined;
}

export function writeFilesTools(): WriteFilesTools {
  return {
    [WRITE_FILES_TOOL_NAME]: {
      description: WRITE_FILES_TOOL_DESCRIPTION,
      // No validate function: the SDK only parses the JSON, and readWriteFilesInputs checks it
      // with zod so every adapter states schema problems to the model in the same words.
      inputSchema: jsonSchema(structuredClone(WRITE_FILES_INPUT_JSON_SCHEMA) as unknown as JSONSchema7),
    },
  };
}

export function toolChoiceFor(mode: AiSdkToolChoice): ToolChoice<Record<typeof WRITE_FILES_TOOL_NAME, unknown>> {
  if (mode === 'forced') return { type: 'tool', toolName: WRITE_FILES_TOOL_NAME };
  return mode;
}

export function buildMessages(input: AskInput): ModelMessage[] {
  const { prompt } = input;
  // The plan part is identical for every iteration of a run: providers with automatic prefix
  // caching (OpenAI, vLLM, llama.cpp) reuse system + plan; only the instructions change.
  const content: Array<{ type: 'text'; text: string }> = [
    { type: 'text', text: prompt.plan },
    { type: 'text', text: prompt.instructions },
  ];
  if (input.retryNote !== undefined) content.push({ type: 'text', text: input.retryNote });
  return [{ role: 'user', content }];
}
