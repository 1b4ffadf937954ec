import type { Message } from '@anthropic-ai/sdk/resources/messages/messages';
import { answerProblems, readWriteFilesInputs, WRITE_FILES_TOOL_NAME, type WriteFilesAnswer } from '../write-files.js';

/** Turns the final message into files, or a problem stated for the model. */
export function readAnswer(message: Message, maxTokens: number): WriteFilesAnswer {
  if (message.stop_reason === 'refusal') return { ok: false, problem: answerProblems.refusal('stop reason "refusal"') };
  if (message.stop_reason === 'max_tokens' || message.stop_reason === 'model_context_window_exceeded') {
    // Never salvage a truncated tool call: the partial JSON parser would close cut-off strings
    // and hand back plausible but incomplete files.
    const limit =
      message.stop_reason === 'max_tokens' ? `the output limit of ${maxTokens} tokens` : "the model's context window";
    return { ok: false, problem: answerProblems.truncated(limit) };
  }
  const inputs: unknown[] = [];
  const texts: string[] = [];
  for (const block of message.content) {
    if (block.type === 'tool_use' && block.name === WRITE_FILES_TOOL_NAME) inputs.push(block.input);
    else if (block.type === 'text') texts.push(block.text);
  }
  if (inputs.length === 0) return { ok: false, problem: answerProblems.noToolCall(texts.join(' ')) };
  return readWriteFilesInputs(inputs);
}
