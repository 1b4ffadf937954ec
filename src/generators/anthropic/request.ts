import type { MessageStreamParams, TextBlockParam, Tool, ToolChoice } from '@anthropic-ai/sdk/resources/messages/messages';
import type { GenerationPrompt } from '../prompts.js';
import { WRITE_FILES_INPUT_JSON_SCHEMA, WRITE_FILES_TOOL_DESCRIPTION, WRITE_FILES_TOOL_NAME } from '../write-files.js';
import type { ResolvedOptions, ToolChoiceMode } from './options.js';

/** The shared `write_files` schema; `strict` makes the API enforce it while the model writes. */
const WRITE_FILES_TOOL: Tool = {
  name: WRITE_FILES_TOOL_NAME,
  description: WRITE_FILES_TOOL_DESCRIPTION,
  strict: true,
  // The shared schema is a readonly literal; the SDK's type wants mutable arrays.
  input_schema: structuredClone(WRITE_FILES_INPUT_JSON_SCHEMA) as unknown as Tool.InputSchema,
};

/** What one ask sends: the prompt, the note of a second ask, the output limit of this call. */
export interface AskInput {
  prompt: GenerationPrompt;
  retryNote: string | undefined;
  maxTokens: number;
}

export function buildParams(input: AskInput, options: ResolvedOptions, toolChoiceMode: ToolChoiceMode): MessageStreamParams {
  const { prompt } = input;
  const forced = toolChoiceMode === 'forced';
  const toolChoice: ToolChoice = forced
    ? { type: 'tool', name: WRITE_FILES_TOOL_NAME, disable_parallel_tool_use: true }
    : { type: 'auto', disable_parallel_tool_use: true };
  // The system prompt and the plan are the same in every iteration of a run: marking them
  // lets iteration 2 onwards read that prefix (tools + system + plan) from the prompt cache.
  const system: TextBlockParam[] = [{ type: 'text', text: prompt.system, cache_control: { type: 'ephemeral' } }];
  const content: TextBlockParam[] = [
    { type: 'text', text: prompt.plan, cache_control: { type: 'ephemeral' } },
    { type: 'text', text: prompt.instructions },
  ];
  if (input.retryNote !== undefined) content.push({ type: 'text', text: input.retryNote });
  return {
    model: options.model,
    max_tokens: input.maxTokens,
    system,
    tools: [WRITE_FILES_TOOL],
    tool_choice: toolChoice,
    messages: [{ role: 'user', content }],
    ...(options.effort !== undefined ? { output_config: { effort: options.effort } } : {}),
  };
}
