import {
  APICallError,
  InvalidArgumentError,
  jsonSchema,
  LoadAPIKeyError,
  NoSuchModelError,
  RetryError,
  streamText,
  UnsupportedFunctionalityError,
  type JSONSchema7,
  type LanguageModel,
  type LanguageModelUsage,
  type ModelMessage,
  type Tool,
  type ToolChoice,
} from 'ai';
import type { Usage } from '../bundle.js';
import type { CodeGenerator, GenerationContext, GenerationRequest, GenerationResult } from '../contracts/code-generator.js';
import { GenerationError } from '../errors.js';
import { abortReason, throwIfAborted } from '../internal/async.js';
import { canonicalJson } from '../internal/canonical-json.js';
import { Redactor } from '../internal/redact.js';
import { durationMs, positiveInteger, rejectUnknownKeys } from '../internal/validate.js';
import { configurationDigest } from './identity.js';
import { PERMANENT_HTTP_STATUSES } from './failures.js';
import { CHARS_PER_TOKEN, ProgressReporter, totalUsage, type CallUsage, type ModelPricing } from './accounting.js';
import { buildGenerationPrompt, buildRetryNote, resolvePromptLimits, type GenerationPrompt, type PromptLimits } from './prompts.js';
import {
  answerProblems,
  generateWithOneRetry,
  readWriteFilesInputs,
  WRITE_FILES_INPUT_JSON_SCHEMA,
  WRITE_FILES_OUTPUT_INSTRUCTION,
  WRITE_FILES_TOOL_DESCRIPTION,
  WRITE_FILES_TOOL_NAME,
  type WriteFilesAnswer,
} from './write-files.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const AI_SDK_CODE_GENERATOR_OPTION_NAMES = ['model', 'maxOutputTokens', 'temperature', 'topP', 'topK', 'seed', 'providerOptions', 'systemPrompt', 'toolChoice', 'pricing', 'maxRetries', 'timeoutMs', 'chunkTimeoutMs', 'promptLimits'] as const satisfies readonly (keyof AiSdkCodeGeneratorOptions)[];

export { WRITE_FILES_TOOL_NAME, WriteFilesInputSchema, type WriteFilesInput } from './write-files.js';

/** A model object from any AI SDK provider (`openai('gpt-5')`, `google(…)`, `createOpenAICompatible(…)(…)`). */
export type AiSdkLanguageModel = Exclude<LanguageModel, string>;

/** USD per million tokens. Cache prices default to the input price when a provider reports cached tokens you did not price. */
export interface AiSdkPricing {
  inputUsdPerMillionTokens: number;
  outputUsdPerMillionTokens: number;
  /** @default inputUsdPerMillionTokens */
  cacheReadUsdPerMillionTokens?: number;
  /** @default inputUsdPerMillionTokens */
  cacheWriteUsdPerMillionTokens?: number;
}

/**
 * How the model is told to call `write_files`: `forced` names the tool (`tool_choice: {type:'function',…}`
 * on OpenAI-compatible servers), `required` demands some tool call, `auto` relies on the prompt.
 * Servers that reject a forced choice usually accept `required` or `auto`.
 */
export type AiSdkToolChoice = 'forced' | 'required' | 'auto';

export interface AiSdkCodeGeneratorOptions {
  /** The model object. Its provider and model id are part of the generator's `id`. */
  model: AiSdkLanguageModel;
  /**
   * Upper bound on output tokens per request, lowered to a plan's remaining token budget (never
   * below 1024). @default the provider's own default (not sent), unless the plan has a token budget
   */
  maxOutputTokens?: number;
  /** Sampling temperature; the range depends on the provider. @default the provider's default */
  temperature?: number;
  /** Nucleus sampling, 0 to 1. @default the provider's default */
  topP?: number;
  /** Top-K sampling, a positive integer. @default the provider's default */
  topK?: number;
  /** Seed for providers that support deterministic sampling. @default none */
  seed?: number;
  /** Provider-specific options, passed to `streamText` as is (e.g. `{ openai: { reasoningEffort: 'low' } }`). Must be JSON. @default none */
  providerOptions?: Record<string, Record<string, unknown>>;
  /** Replaces the built-in system prompt. The instruction to call `write_files` still ends every request. @default the built-in prompt (see prompts.ts) */
  systemPrompt?: string;
  /** @default 'forced' */
  toolChoice?: AiSdkToolChoice;
  /** Price of this model; without it `usage.costUsd` is `null`. @default none */
  pricing?: AiSdkPricing;
  /** The SDK's retries of a request that fails before streaming starts (408, 409, 429, 5xx, network). @default 2 */
  maxRetries?: number;
  /** Upper bound on one model call, retries included (the SDK's `timeout.totalMs`). @default none: the run's own timeout applies */
  timeoutMs?: number;
  /** A stream that sends nothing for this long is abandoned (the SDK's `timeout.chunkMs`); the failure is retryable. @default 180000 */
  chunkTimeoutMs?: number;
  /** Bounds on what refinement prompts quote. @default DEFAULT_PROMPT_LIMITS */
  promptLimits?: Partial<PromptLimits>;
}

interface ResolvedOptions {
  model: AiSdkLanguageModel;
  maxOutputTokens: number | undefined;
  temperature: number | undefined;
  topP: number | undefined;
  topK: number | undefined;
  seed: number | undefined;
  providerOptions: Record<string, Record<string, unknown>> | undefined;
  systemPrompt: string | undefined;
  toolChoice: AiSdkToolChoice;
  pricing: ModelPricing | undefined;
  maxRetries: number;
  timeoutMs: number | undefined;
  chunkTimeoutMs: number;
  promptLimits: PromptLimits;
}

const MIN_OUTPUT_TOKENS = 1_024;
const DEFAULT_CHUNK_TIMEOUT_MS = 180_000;

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
  private readonly tools: Record<typeof WRITE_FILES_TOOL_NAME, Tool>;
  private warnedMissingUsage = false;

  constructor(options: AiSdkCodeGeneratorOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('options must be an object with a model');
    this.options = resolveOptions(options);
    this.provider = this.options.model.provider;
    this.modelId = this.options.model.modelId;
    this.id = `ai-sdk:${this.provider}:${this.modelId}:${configurationDigest(outputSettings(this.options))}`;
    this.tools = {
      [WRITE_FILES_TOOL_NAME]: {
        description: WRITE_FILES_TOOL_DESCRIPTION,
        // No validate function: the SDK only parses the JSON, and readWriteFilesInputs checks it
        // with zod so every adapter states schema problems to the model in the same words.
        inputSchema: jsonSchema(structuredClone(WRITE_FILES_INPUT_JSON_SCHEMA) as unknown as JSONSchema7),
      },
    };
  }

  async generate(request: GenerationRequest, context: GenerationContext): Promise<GenerationResult> {
    const { signal } = context;
    throwIfAborted(signal);
    const prompt = buildGenerationPrompt(request, {
      outputInstruction: WRITE_FILES_OUTPUT_INSTRUCTION,
      ...(this.options.systemPrompt !== undefined ? { systemPrompt: this.options.systemPrompt } : {}),
      limits: this.options.promptLimits,
    });
    const maxOutputTokens = capOutputTokens(this.options.maxOutputTokens, request.remainingTokens);
    const calls: CallUsage[] = [];
    const progress = new ProgressReporter(context);
    return generateWithOneRetry(
      {
        ask: (retryNote) => this.ask({ prompt, retryNote, maxOutputTokens }, calls, progress, signal),
        onRetry: (problem) => progress.report({ message: `the answer could not be used (${this.redactor.text(problem)}); asking again` }),
        usage: () => totalUsage(calls),
        redact: (text) => this.redactor.text(text),
      },
      buildRetryNote,
    );
  }

  /** One streamed model call, read to its end. */
  private async ask(
    input: { prompt: GenerationPrompt; retryNote: string | undefined; maxOutputTokens: number | undefined },
    calls: CallUsage[],
    progress: ProgressReporter,
    signal: AbortSignal,
  ): Promise<WriteFilesAnswer> {
    throwIfAborted(signal);
    const { prompt } = input;
    const options = this.options;
    // The plan part is identical for every iteration of a run: providers with automatic prefix
    // caching (OpenAI, vLLM, llama.cpp) reuse system + plan; only the instructions change.
    const content: Array<{ type: 'text'; text: string }> = [
      { type: 'text', text: prompt.plan },
      { type: 'text', text: prompt.instructions },
    ];
    if (input.retryNote !== undefined) content.push({ type: 'text', text: input.retryNote });
    const messages: ModelMessage[] = [{ role: 'user', content }];

    const result = streamText({
      model: options.model,
      system: prompt.system,
      messages,
      tools: this.tools,
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
      this.recordCall(calls, progress, usage, streamedChars);
    }

    if (signal.aborted) throw abortReason(signal);
    if (stoppedWithoutOurSignal) {
      const limits = [`chunkTimeoutMs ${options.chunkTimeoutMs}`];
      if (options.timeoutMs !== undefined) limits.unshift(`timeoutMs ${options.timeoutMs}`);
      throw new GenerationError(`The model call timed out (${limits.join(', ')})`, { retryable: true, usage: totalUsage(calls) });
    }
    if (streamError !== undefined) throw this.toGenerationError(streamError, totalUsage(calls));

    if (finishReason === 'length') {
      // Never salvage a truncated tool call: it would hand back plausible but incomplete files.
      const limit = input.maxOutputTokens !== undefined ? `the output limit of ${input.maxOutputTokens} tokens` : "the model's output limit";
      return { ok: false, problem: answerProblems.truncated(limit) };
    }
    if (finishReason === 'content-filter') return { ok: false, problem: answerProblems.refusal('finish reason "content-filter"') };
    if (inputs.length === 0) {
      if (invalidToolInput !== undefined) return { ok: false, problem: answerProblems.invalidJson(invalidToolInput) };
      // Some servers ignore a forced tool choice and answer in text; ai 6 reports no error for it.
      return { ok: false, problem: answerProblems.noToolCall(texts.join('')) };
    }
    return readWriteFilesInputs(inputs);
  }

  private recordCall(calls: CallUsage[], progress: ProgressReporter, usage: LanguageModelUsage | undefined, streamedChars: number): void {
    const counted = countUsage(usage);
    progress.finishCall(counted.outputTokens ?? Math.ceil(streamedChars / CHARS_PER_TOKEN), counted.outputTokens !== undefined);
    const complete = counted.inputTokens !== undefined && counted.outputTokens !== undefined;
    // A call that produced nothing (refused at request start) cost nothing; one that streamed
    // output without reporting its counts cost an unknown amount, so its price is unknown.
    const nothingHappened = usage === undefined && streamedChars === 0;
    if (!complete && !nothingHappened && !this.warnedMissingUsage) {
      this.warnedMissingUsage = true;
      progress.report({
        message:
          `${this.provider} reported no token usage, so the cost is unknown (null); ` +
          'for an OpenAI-compatible server, create the provider with includeUsage: true',
      });
    }
    calls.push({
      inputTokens: counted.inputTokens ?? 0,
      outputTokens: counted.outputTokens ?? 0,
      cacheCreationInputTokens: counted.cacheWriteTokens,
      cacheReadInputTokens: counted.cacheReadTokens,
      pricing: complete || nothingHappened ? this.options.pricing : undefined,
    });
  }

  private toGenerationError(error: unknown, usage: Usage): GenerationError {
    const retryable = !isPermanentFailure(error);
    const suffix = retryable ? '' : ' (not retried: fix the request, credentials or model)';
    return new GenerationError(this.redactor.text(`The ${this.provider} model call failed: ${describeError(error)}${suffix}`), {
      retryable,
      usage,
      cause: this.safeCause(error),
    });
  }

  /** The foreign error as `cause`, unless it carries a secret; then a redacted stand-in. */
  private safeCause(error: unknown): unknown {
    if (!(error instanceof Error)) return typeof error === 'string' || (error && typeof error === 'object') ? this.redactor.value(error) : error;
    if (this.redactor.size === 0) return error;
    const fields = error as unknown as Record<string, unknown>;
    const texts = [error.message, error.stack ?? '', safeJson(fields.responseBody), safeJson(fields.requestBodyValues)];
    const nested = RetryError.isInstance(error) ? error.lastError : error.cause;
    const nestedSafe = nested === undefined ? undefined : this.safeCause(nested);
    if (texts.every((text) => this.redactor.text(text) === text) && nestedSafe === nested) return error;
    const standIn = new Error(this.redactor.text(error.message), nestedSafe === undefined ? undefined : { cause: nestedSafe });
    standIn.name = error.name;
    if (error.stack) standIn.stack = this.redactor.text(error.stack);
    for (const key of ['statusCode', 'isRetryable', 'url', 'reason'] as const) {
      const value = fields[key];
      if (value !== undefined) Object.defineProperty(standIn, key, { value: typeof value === 'string' ? this.redactor.text(value) : value, enumerable: true });
    }
    return standIn;
  }
}

function toolChoiceFor(mode: AiSdkToolChoice): ToolChoice<Record<typeof WRITE_FILES_TOOL_NAME, unknown>> {
  if (mode === 'forced') return { type: 'tool', toolName: WRITE_FILES_TOOL_NAME };
  return mode;
}

function capOutputTokens(configured: number | undefined, remainingTokens: number | undefined): number | undefined {
  if (remainingTokens === undefined) return configured;
  const budget = Math.max(MIN_OUTPUT_TOKENS, Math.floor(remainingTokens));
  return configured === undefined ? budget : Math.min(configured, budget);
}

interface CountedUsage {
  /** Input not read from or written to a cache; `undefined` when the provider did not say. */
  inputTokens: number | undefined;
  outputTokens: number | undefined;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

/**
 * The SDK's usage in the bundle's terms. The SDK's `inputTokens` is the whole prompt; the bundle
 * counts cache reads and writes apart from it, as Anthropic does. Each missing field is 0 (or
 * `undefined` for the two the cost depends on); a partly reported usage is never dropped whole.
 */
export function countUsage(usage: LanguageModelUsage | undefined): CountedUsage {
  const details = usage?.inputTokenDetails;
  const cacheReadTokens = count(details?.cacheReadTokens) ?? count(usage?.cachedInputTokens) ?? 0;
  const cacheWriteTokens = count(details?.cacheWriteTokens) ?? 0;
  const total = count(usage?.inputTokens);
  const inputTokens = count(details?.noCacheTokens) ?? (total === undefined ? undefined : Math.max(0, total - cacheReadTokens - cacheWriteTokens));
  return { inputTokens, outputTokens: count(usage?.outputTokens), cacheReadTokens, cacheWriteTokens };
}

/** A token count as the bundle's schema wants it (a non-negative integer), or `undefined`. */
function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}

function describeInvalidInput(error: unknown): string {
  // InvalidToolInputError's message repeats the whole input; its cause says what is wrong.
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  const message = cause instanceof Error ? cause.message : String(cause);
  return message.length > 200 ? `${message.slice(0, 200)}…` : message;
}

function statusOf(error: unknown): number | undefined {
  if (APICallError.isInstance(error)) return error.statusCode;
  if (RetryError.isInstance(error)) return statusOf(error.lastError);
  return undefined;
}

/** Failures the next iteration would repeat: bad credentials, a refused request, an unknown model or setting. */
function isPermanentFailure(error: unknown): boolean {
  if (RetryError.isInstance(error)) return isPermanentFailure(error.lastError);
  const status = statusOf(error);
  if (status !== undefined) return PERMANENT_HTTP_STATUSES.has(status);
  return (
    LoadAPIKeyError.isInstance(error) ||
    NoSuchModelError.isInstance(error) ||
    UnsupportedFunctionalityError.isInstance(error) ||
    InvalidArgumentError.isInstance(error)
  );
}

function describeError(error: unknown): string {
  const status = statusOf(error);
  let message: string;
  if (error instanceof Error) message = error.message;
  else if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    // An error chunk inside a 200 stream arrives as the server's plain `{ message, type, code }`.
    const { message: text, type } = error as { message: string; type?: unknown };
    message = typeof type === 'string' && type ? `${type}: ${text}` : text;
  } else message = typeof error === 'string' ? error : safeJson(error) || String(error);
  if (status === undefined || message.startsWith(String(status))) return message;
  return `${status} ${message}`;
}

function safeJson(value: unknown): string {
  if (value === undefined) return '';
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? '');
  } catch {
    return '';
  }
}

/** 12 hex digits over every option that changes what the model writes, so the cache key follows them. */
function outputSettings(options: ResolvedOptions): Record<string, unknown> {
  return {
    maxOutputTokens: options.maxOutputTokens,
    temperature: options.temperature,
    topP: options.topP,
    topK: options.topK,
    seed: options.seed,
    providerOptions: options.providerOptions,
    systemPrompt: options.systemPrompt,
    toolChoice: options.toolChoice,
    promptLimits: options.promptLimits,
  };
}

function isLanguageModel(value: unknown): value is AiSdkLanguageModel {
  if (!value || typeof value !== 'object') return false;
  const model = value as Record<string, unknown>;
  return (
    (model.specificationVersion === 'v2' || model.specificationVersion === 'v3') &&
    typeof model.provider === 'string' &&
    model.provider !== '' &&
    typeof model.modelId === 'string' &&
    model.modelId !== '' &&
    typeof model.doStream === 'function'
  );
}

function finiteNumber(name: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new TypeError(`${name} must be a number between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

function resolvePricing(pricing: AiSdkPricing | undefined): ModelPricing | undefined {
  if (pricing === undefined) return undefined;
  if (pricing === null || typeof pricing !== 'object') throw new TypeError('pricing must be an object of USD per million tokens');
  const price = (field: keyof AiSdkPricing, required: boolean): number | undefined => {
    const value: unknown = pricing[field];
    if (value === undefined && !required) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new TypeError(`pricing.${field} must be a non-negative number, got ${String(value)}`);
    }
    return value;
  };
  const input = price('inputUsdPerMillionTokens', true) as number;
  const output = price('outputUsdPerMillionTokens', true) as number;
  return Object.freeze({
    inputUsdPerMillionTokens: input,
    outputUsdPerMillionTokens: output,
    cacheReadUsdPerMillionTokens: price('cacheReadUsdPerMillionTokens', false) ?? input,
    cacheWriteUsdPerMillionTokens: price('cacheWriteUsdPerMillionTokens', false) ?? input,
  });
}

function resolveOptions(options: AiSdkCodeGeneratorOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('AiSdkCodeGenerator: options must be an object');
  rejectUnknownKeys('AiSdkCodeGenerator', options, AI_SDK_CODE_GENERATOR_OPTION_NAMES);
  if (typeof options.model === 'string') {
    throw new TypeError('model must be a model object from an AI SDK provider, e.g. openai("gpt-5"), not the string id');
  }
  if (!isLanguageModel(options.model)) {
    throw new TypeError('model must be an AI SDK language model (specificationVersion v2 or v3, with provider, modelId and doStream)');
  }
  if (options.systemPrompt !== undefined && (typeof options.systemPrompt !== 'string' || options.systemPrompt.trim() === '')) {
    throw new TypeError('systemPrompt must be a non-empty string');
  }
  const toolChoices: readonly string[] = ['forced', 'required', 'auto'];
  if (options.toolChoice !== undefined && !toolChoices.includes(options.toolChoice)) {
    throw new TypeError(`toolChoice must be one of ${toolChoices.join(', ')}, got ${String(options.toolChoice)}`);
  }
  if (options.seed !== undefined && (typeof options.seed !== 'number' || !Number.isSafeInteger(options.seed))) {
    throw new TypeError(`seed must be an integer, got ${String(options.seed)}`);
  }
  if (options.providerOptions !== undefined) {
    const value: unknown = options.providerOptions;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new TypeError('providerOptions must be an object keyed by provider name');
    }
    try {
      canonicalJson(value);
    } catch {
      throw new TypeError('providerOptions must be plain JSON (it is part of the generator id)');
    }
  }
  const maxRetries = options.maxRetries;
  if (maxRetries !== undefined && (typeof maxRetries !== 'number' || !Number.isSafeInteger(maxRetries) || maxRetries < 0)) {
    throw new TypeError(`maxRetries must be a non-negative integer, got ${String(maxRetries)}`);
  }
  return {
    model: options.model,
    maxOutputTokens: options.maxOutputTokens === undefined ? undefined : positiveInteger('maxOutputTokens', options.maxOutputTokens, 0),
    temperature: finiteNumber('temperature', options.temperature, 0, 2),
    topP: finiteNumber('topP', options.topP, 0, 1),
    topK: options.topK === undefined ? undefined : positiveInteger('topK', options.topK, 0),
    seed: options.seed,
    providerOptions: options.providerOptions,
    systemPrompt: options.systemPrompt,
    toolChoice: options.toolChoice ?? 'forced',
    pricing: resolvePricing(options.pricing),
    maxRetries: maxRetries ?? 2,
    timeoutMs: options.timeoutMs === undefined ? undefined : durationMs('timeoutMs', options.timeoutMs, 0),
    chunkTimeoutMs: durationMs('chunkTimeoutMs', options.chunkTimeoutMs, DEFAULT_CHUNK_TIMEOUT_MS),
    promptLimits: resolvePromptLimits(options.promptLimits),
  };
}
