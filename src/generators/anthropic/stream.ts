import Anthropic from '@anthropic-ai/sdk';
import type {
  Message,
  MessageStreamEvent,
  MessageStreamParams,
  Usage as AnthropicUsage,
} from '@anthropic-ai/sdk/resources/messages/messages';
import { abortReason, delay, throwIfAborted } from '../../internal/async.js';
import type { Redactor } from '../../internal/redact.js';
import { CHARS_PER_TOKEN, type CallUsage, type ModelPricing, type ProgressReporter } from '../accounting.js';
import { describeError, InvalidToolJsonError, isBrokenStream, StreamIdleError } from './errors.js';
import type { ResolvedOptions } from './options.js';

const MAX_RETRY_DELAY_MS = 8_000;

export interface StreamRetryPolicy {
  retries: number;
  retryDelayMs: number;
  redactor: Redactor;
  /** Whether the failure was a refused forced tool choice, now switched to `auto` (and so worth one more attempt). */
  switchedToolChoice(error: unknown): boolean;
}

/** One answer: a streamed call, retried when the stream breaks after it started. */
export async function streamWithRetries(
  attempt: () => Promise<Message>,
  policy: StreamRetryPolicy,
  progress: ProgressReporter,
  signal: AbortSignal,
): Promise<Message> {
  for (let retry = 0; ; retry += 1) {
    try {
      return await attempt();
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      if (policy.switchedToolChoice(error)) {
        // Not counted as a retry: the request was refused before any generation.
        retry -= 1;
        continue;
      }
      if (!isBrokenStream(error) || retry >= policy.retries) throw error;
      const delayMs = Math.min(MAX_RETRY_DELAY_MS, policy.retryDelayMs * 2 ** retry);
      progress.report({
        message: `the response stream broke (${policy.redactor.text(describeError(error))}); retry ${retry + 1} of ${policy.retries} in ${delayMs} ms`,
      });
      await delay(delayMs, signal);
    }
  }
}

/**
 * One streamed call, read to its final message: an idle timer abandons a silent stream, progress
 * follows the output as it arrives, and the call's usage is added to `calls` however it ends.
 */
export async function streamOnce(
  client: Anthropic,
  options: ResolvedOptions,
  /** The generator's `pricingFor`, so a call is priced as the generator says. */
  pricingFor: (model: string) => ModelPricing | undefined,
  params: MessageStreamParams,
  calls: CallUsage[],
  progress: ProgressReporter,
  signal: AbortSignal,
): Promise<Message> {
  throwIfAborted(signal);
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const idleMs = options.streamIdleTimeoutMs;
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let idledOut = false;
  const armIdleTimer = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      idledOut = true;
      controller.abort();
    }, idleMs);
  };

  let usage: AnthropicUsage | undefined;
  let responseModel: string | undefined;
  let streamedChars = 0;
  const requestOptions = {
    signal: controller.signal,
    ...(options.maxRetries !== undefined ? { maxRetries: options.maxRetries } : {}),
    ...(options.requestTimeoutMs !== undefined ? { timeout: options.requestTimeoutMs } : {}),
  };
  progress.startCall();
  try {
    const stream = client.messages.stream(params, requestOptions);
    // The per-attempt SDK timeout covers the wait for headers; from then on our idle timer does.
    stream.on('connect', armIdleTimer);
    stream.on('streamEvent', (event: MessageStreamEvent, snapshot: Message) => {
      armIdleTimer();
      usage = snapshot.usage;
      responseModel = snapshot.model;
      if (event.type === 'content_block_delta') {
        const delta = event.delta;
        if (delta.type === 'text_delta') streamedChars += delta.text.length;
        else if (delta.type === 'input_json_delta') streamedChars += delta.partial_json.length;
        else if (delta.type === 'thinking_delta') streamedChars += delta.thinking.length;
      }
      progress.update(Math.max(snapshot.usage.output_tokens, Math.ceil(streamedChars / CHARS_PER_TOKEN)));
    });
    const message = await stream.finalMessage();
    usage = message.usage;
    responseModel = message.model;
    progress.finishCall(message.usage.output_tokens, true);
    return message;
  } catch (error) {
    progress.finishCall(Math.max(usage?.output_tokens ?? 0, Math.ceil(streamedChars / CHARS_PER_TOKEN)), false);
    if (idledOut && !signal.aborted) throw new StreamIdleError(idleMs);
    // The SDK parses tool input at content_block_stop and wraps the SyntaxError in an AnthropicError.
    if (error instanceof Anthropic.AnthropicError && error.cause instanceof SyntaxError) {
      throw new InvalidToolJsonError(error.cause.message.slice(0, 200));
    }
    throw error;
  } finally {
    clearTimeout(idleTimer);
    signal.removeEventListener('abort', onAbort);
    // Counted whenever the API reported usage, also for a stream that broke later: the input
    // was processed (and billed) by then. The output of a broken stream is our estimate.
    if (usage) {
      calls.push({
        inputTokens: usage.input_tokens,
        outputTokens: progress.lastCallOutputTokens,
        cacheCreationInputTokens: usage.cache_creation_input_tokens ?? 0,
        cacheReadInputTokens: usage.cache_read_input_tokens ?? 0,
        pricing: (responseModel ? pricingFor(responseModel) : undefined) ?? pricingFor(options.model),
      });
    } else {
      calls.push({ inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, pricing: pricingFor(options.model) });
    }
  }
}
