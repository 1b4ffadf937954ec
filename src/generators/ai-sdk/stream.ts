import { streamText, type LanguageModelUsage } from 'ai';
import { CHARS_PER_TOKEN, type ProgressReporter } from '../accounting.js';
import { WRITE_FILES_TOOL_NAME } from '../write-files.js';
import { describeInvalidInput, type StreamedAnswer } from './answer.js';
import type { ResolvedOptions } from './options.js';
import { buildMessages, toolChoiceFor, type AskInput, type WriteFilesTools } from './request.js';

/** One streamed call, read to its end; a failure is kept, not thrown. */
export interface StreamedCall extends StreamedAnswer {
  streamError: unknown;
  /** The SDK aborted the stream (one of its timeouts), not our signal. */
  stoppedWithoutOurSignal: boolean;
}

/**
 * Streams one model call and reads it to its end. `onEnd` gets the call's usage (or the output
 * streamed so far) however the stream ends.
 */
export async function streamCall(
  input: AskInput,
  options: ResolvedOptions,
  tools: WriteFilesTools,
  progress: ProgressReporter,
  signal: AbortSignal,
  onEnd: (usage: LanguageModelUsage | undefined, streamedChars: number) => void,
): Promise<StreamedCall> {
  const result = streamText({
    model: options.model,
    system: input.prompt.system,
    messages: buildMessages(input),
    tools,
    toolChoice: toolChoiceFor(options.toolChoice),
    maxRetries: options.maxRetries,
    abortSignal: signal,
    timeout: { chunkMs: options.chunkTimeoutMs, ...(options.timeoutMs !== undefined ? { totalMs: options.timeoutMs } : {}) },
    ...(input.maxOutputTokens !== undefined ? { maxOutputTokens: input.maxOutputTokens } : {}),
    ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    ...(options.topP !== undefined ? { topP: options.topP } : {}),
    ...(options.topK !== undefined ? { topK: options.topK } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.providerOptions !== undefined ? { providerOptions: options.providerOptions as never } : {}),
    // Errors are read from the stream below; the default handler would print them to stderr.
    onError: () => {},
  });

  const inputs: unknown[] = [];
  const texts: string[] = [];
  let invalidToolInput: string | undefined;
  let streamError: unknown;
  let stoppedWithoutOurSignal = false;
  let finishReason: string | undefined;
  let usage: LanguageModelUsage | undefined;
  let streamedChars = 0;
  progress.startCall();
  const streamed = (chars: number) => {
    streamedChars += chars;
    progress.update(Math.ceil(streamedChars / CHARS_PER_TOKEN));
  };
  try {
    for await (const part of result.fullStream) {
      switch (part.type) {
        case 'text-delta':
          texts.push(part.text);
          streamed(part.text.length);
          break;
        case 'reasoning-delta':
          streamed(part.text.length);
          break;
        case 'tool-input-delta':
          streamed(part.delta.length);
          break;
        case 'tool-call':
          if (part.toolName !== WRITE_FILES_TOOL_NAME) break;
          if (part.invalid === true) invalidToolInput ??= describeInvalidInput(part.error);
          else inputs.push(part.input);
          break;
        case 'finish-step':
          usage = part.usage;
          finishReason = part.finishReason;
          break;
        case 'error':
          streamError ??= part.error;
          break;
        case 'abort':
          stoppedWithoutOurSignal = !signal.aborted;
          break;
        default:
          break;
      }
    }
  } catch (error) {
    streamError ??= error;
  } finally {
    onEnd(usage, streamedChars);
  }
  return { inputs, texts, invalidToolInput, finishReason, streamError, stoppedWithoutOurSignal };
}
