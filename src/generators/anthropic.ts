import type Anthropic from '@anthropic-ai/sdk';
import type { Message } from '@anthropic-ai/sdk/resources/messages/messages';
import type {
  CodeGenerator,
  GenerationContext,
  GenerationRequest,
  GenerationResult,
} from '../contracts/code-generator.js';
import { abortReason, throwIfAborted } from '../internal/async.js';
import { Redactor } from '../internal/redact.js';
import { capOutputTokens, ProgressReporter, totalUsage, type CallUsage, type ModelPricing } from './accounting.js';
import { readAnswer } from './anthropic/answer.js';
import { clientSecrets, resolveClient } from './anthropic/client.js';
import { InvalidToolJsonError, isToolChoiceRefusal, toGenerationError } from './anthropic/errors.js';
import { generatorId, pricingFor, resolveOptions, type AnthropicCodeGeneratorOptions, type ResolvedOptions, type ToolChoiceMode } from './anthropic/options.js';
import { buildParams, type AskInput } from './anthropic/request.js';
import { streamOnce, streamWithRetries } from './anthropic/stream.js';
import { buildWriteFilesPrompt, generateFromCalls } from './write-files.js';

/*
 * The `ptc-agent/anthropic` entry. Its parts, by concern, are in ./anthropic/: options (and
 * defaults, prices, the id), client, request (what is sent), stream (transport: idle timeout,
 * stream retries, usage), answer (the final message read into files), errors (classification).
 */

export { WRITE_FILES_TOOL_NAME, WriteFilesInputSchema, type WriteFilesInput } from './write-files.js';
export type { ModelPricing } from './accounting.js';
export {
  DEFAULT_ANTHROPIC_MODEL,
  DEFAULT_ANTHROPIC_PRICING,
  type AnthropicCodeGeneratorOptions,
  type AnthropicEffort,
  type ToolChoiceMode,
} from './anthropic/options.js';

/**
 * A `CodeGenerator` backed by Claude through `@anthropic-ai/sdk` (an optional peer dependency;
 * import this from `ptc-agent/anthropic`). The model answers through one `write_files` tool call,
 * validated with zod; a truncated, refused or invalid answer is retried once with the problem
 * stated, then becomes a `GenerationError` (`GENERATION_OUTPUT_INVALID`) for the iteration.
 */
export class AnthropicCodeGenerator implements CodeGenerator {
  readonly id: string;
  readonly model: string;
  private readonly client: Anthropic;
  private readonly options: ResolvedOptions;
  private readonly redactor: Redactor;
  /** Set once the API has refused a forced tool choice for this model; later requests use `auto`. */
  private forcedToolChoiceRejected = false;

  constructor(options: AnthropicCodeGeneratorOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
    this.options = resolveOptions(options);
    this.model = this.options.model;
    this.id = generatorId(options, this.options);
    this.client = resolveClient(options, this.options);
    this.redactor = new Redactor(clientSecrets(options, this.client));
  }

  /** The price used for a model id, if any (exact id first, then the id without a date suffix). */
  pricingFor(model: string): ModelPricing | undefined {
    return pricingFor(this.options.pricing, model);
  }

  async generate(request: GenerationRequest, context: GenerationContext): Promise<GenerationResult> {
    const { signal } = context;
    throwIfAborted(signal);
    const prompt = buildWriteFilesPrompt(request, { systemPrompt: this.options.systemPrompt, limits: this.options.promptLimits });
    const maxTokens = capOutputTokens(this.options.maxTokens, request.remainingTokens);

    const calls: CallUsage[] = [];
    const progress = new ProgressReporter(context);
    return generateFromCalls(
      async (retryNote) => {
        let message: Message;
        try {
          message = await this.callWithStreamRetries({ prompt, retryNote, maxTokens }, calls, progress, signal);
        } catch (error) {
          if (signal.aborted) throw abortReason(signal);
          if (error instanceof InvalidToolJsonError) return { ok: false, problem: error.message };
          throw toGenerationError(error, totalUsage(calls), this.redactor);
        }
        return readAnswer(message, maxTokens);
      },
      { calls, progress, redactor: this.redactor },
    );
  }

  private toolChoiceMode(): ToolChoiceMode {
    return this.forcedToolChoiceRejected ? 'auto' : this.options.toolChoice;
  }

  /** One answer: a streamed call, retried when the stream breaks after it started. */
  private callWithStreamRetries(input: AskInput, calls: CallUsage[], progress: ProgressReporter, signal: AbortSignal): Promise<Message> {
    return streamWithRetries(
      () => streamOnce(this.client, this.options, (model) => this.pricingFor(model), buildParams(input, this.options, this.toolChoiceMode()), calls, progress, signal),
      {
        retries: this.options.streamRetries,
        retryDelayMs: this.options.streamRetryDelayMs,
        redactor: this.redactor,
        switchedToolChoice: (error) => {
          if (!this.isForcedToolChoiceRejection(error)) return false;
          this.forcedToolChoiceRejected = true;
          progress.report({ message: `${this.model} does not accept a forced tool choice; using tool_choice auto` });
          return true;
        },
      },
      progress,
      signal,
    );
  }

  private isForcedToolChoiceRejection(error: unknown): boolean {
    if (this.forcedToolChoiceRejected || this.options.toolChoiceExplicit || this.options.toolChoice !== 'forced') return false;
    return isToolChoiceRefusal(error);
  }
}
