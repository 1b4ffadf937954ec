import type { CodeGenerator, GenerationContext, GenerationRequest, GenerationResult } from '../contracts/code-generator.js';
import { abortReason, throwIfAborted } from '../internal/async.js';
import { Redactor } from '../internal/redact.js';
import { capOutputTokens, ProgressReporter, totalUsage, type CallUsage } from './accounting.js';
import { readAnswer } from './ai-sdk/answer.js';
import { timeoutError, toGenerationError } from './ai-sdk/errors.js';
import { generatorId, resolveOptions, type AiSdkCodeGeneratorOptions, type ResolvedOptions } from './ai-sdk/options.js';
import { writeFilesTools, type AskInput, type WriteFilesTools } from './ai-sdk/request.js';
import { streamCall } from './ai-sdk/stream.js';
import { CallRecorder } from './ai-sdk/usage.js';
import { buildWriteFilesPrompt, generateFromCalls, type WriteFilesAnswer } from './write-files.js';

/*
 * The `ptc-agent/ai-sdk` entry. Its parts, by concern, are in ./ai-sdk/: options (and the id),
 * request (the tool, tool choice, messages), stream (one streamText call read to its end), usage
 * (the SDK's counts in the bundle's terms), answer (the call read into files), errors (classification).
 */

export { WRITE_FILES_TOOL_NAME, WriteFilesInputSchema, type WriteFilesInput } from './write-files.js';
export {
  type AiSdkCodeGeneratorOptions,
  type AiSdkLanguageModel,
  type AiSdkPricing,
  type AiSdkToolChoice,
} from './ai-sdk/options.js';
export { countUsage } from './ai-sdk/usage.js';

/**
 * A `CodeGenerator` over the Vercel AI SDK (`ai` 6, an optional peer dependency; import this from
 * `ptc-agent/ai-sdk`). Any provider's model works: OpenAI, Google, Anthropic through
 * `@ai-sdk/anthropic`, or a local server (Ollama, vLLM, llama.cpp, LM Studio) through
 * `@ai-sdk/openai-compatible`. The model answers with one `write_files` tool call, validated with
 * zod; an unusable answer is retried once with the problem stated, then becomes a
 * `GenerationError` (`GENERATION_OUTPUT_INVALID`).
 */
export class AiSdkCodeGenerator implements CodeGenerator {
  /** `ai-sdk:<provider>:<model id>:<12 hex digits of the output-shaping configuration>`. */
  readonly id: string;
  readonly provider: string;
  readonly modelId: string;
  private readonly options: ResolvedOptions;
  private readonly redactor = new Redactor();
  private readonly tools: WriteFilesTools;
  private readonly recorder: CallRecorder;

  constructor(options: AiSdkCodeGeneratorOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object with a model');
    this.options = resolveOptions(options);
    this.provider = this.options.model.provider;
    this.modelId = this.options.model.modelId;
    this.id = generatorId(this.options);
    this.tools = writeFilesTools();
    this.recorder = new CallRecorder(this.provider, this.options.pricing);
  }

  async generate(request: GenerationRequest, context: GenerationContext): Promise<GenerationResult> {
    const { signal } = context;
    throwIfAborted(signal);
    const prompt = buildWriteFilesPrompt(request, { systemPrompt: this.options.systemPrompt, limits: this.options.promptLimits });
    const maxOutputTokens = capOutputTokens(this.options.maxOutputTokens, request.remainingTokens);
    const calls: CallUsage[] = [];
    const progress = new ProgressReporter(context);
    return generateFromCalls((retryNote) => this.ask({ prompt, retryNote, maxOutputTokens }, calls, progress, signal), {
      calls,
      progress,
      redactor: this.redactor,
    });
  }

  /** One streamed model call, read to its end. */
  private async ask(input: AskInput, calls: CallUsage[], progress: ProgressReporter, signal: AbortSignal): Promise<WriteFilesAnswer> {
    throwIfAborted(signal);
    const call = await streamCall(input, this.options, this.tools, progress, signal, (usage, streamedChars) =>
      this.recorder.record(calls, progress, usage, streamedChars),
    );
    if (signal.aborted) throw abortReason(signal);
    if (call.stoppedWithoutOurSignal) throw timeoutError(this.options, totalUsage(calls));
    if (call.streamError !== undefined) throw toGenerationError(call.streamError, totalUsage(calls), this.provider, this.redactor);
    return readAnswer(call, input.maxOutputTokens);
  }
}
