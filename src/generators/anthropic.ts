import Anthropic from '@anthropic-ai/sdk';
import type {
  Message,
  MessageStreamEvent,
  MessageStreamParams,
  TextBlockParam,
  Tool,
  ToolChoice,
  Usage as AnthropicUsage,
} from '@anthropic-ai/sdk/resources/messages/messages';
import type { Usage } from '../bundle.js';
import type {
  CodeGenerator,
  GenerationContext,
  GenerationRequest,
  GenerationResult,
} from '../contracts/code-generator.js';
import { GenerationError } from '../errors.js';
import { abortReason, delay, throwIfAborted } from '../internal/async.js';
import { Redactor } from '../internal/redact.js';
import { durationMs, nonNegativeInteger, positiveInteger, rejectUnknownKeys } from '../internal/validate.js';
import { configurationDigest } from './identity.js';
import { CHARS_PER_TOKEN, ProgressReporter, totalUsage, type CallUsage, type ModelPricing } from './accounting.js';
import { buildGenerationPrompt, buildRetryNote, resolvePromptLimits, type PromptLimits } from './prompts.js';
import {
  answerProblems,
  generateWithOneRetry,
  PERMANENT_HTTP_STATUSES,
  readWriteFilesInputs,
  WRITE_FILES_INPUT_JSON_SCHEMA,
  WRITE_FILES_OUTPUT_INSTRUCTION,
  WRITE_FILES_TOOL_DESCRIPTION,
  WRITE_FILES_TOOL_NAME,
  type WriteFilesAnswer,
} from './write-files.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const ANTHROPIC_CODE_GENERATOR_OPTION_NAMES = ['model', 'maxTokens', 'apiKey', 'baseURL', 'client', 'pricing', 'systemPrompt', 'toolChoice', 'effort', 'maxRetries', 'requestTimeoutMs', 'streamRetries', 'streamRetryDelayMs', 'streamIdleTimeoutMs', 'promptLimits'] as const satisfies readonly (keyof AnthropicCodeGeneratorOptions)[];

export { WRITE_FILES_TOOL_NAME, WriteFilesInputSchema, type WriteFilesInput } from './write-files.js';
export type { ModelPricing } from './accounting.js';

/** The newest Sonnet in the installed SDK's `Model` union (@anthropic-ai/sdk 1.12.0). */
export const DEFAULT_ANTHROPIC_MODEL = 'claude-sonnet-5-5';

function price(input: number, output: number, cacheWrite: number, cacheRead: number): ModelPricing {
  return Object.freeze({
    inputUsdPerMillionTokens: input,
    outputUsdPerMillionTokens: output,
    cacheWriteUsdPerMillionTokens: cacheWrite,
    cacheReadUsdPerMillionTokens: cacheRead,
  });
}

/**
 * Default prices, USD per million tokens, as published on Anthropic's pricing page
 * (platform.claude.com/docs/en/about-claude/pricing) and the model pages, read on 2026-11-23.
 * Prices change: check them before billing anyone, and pass `pricing` to override or extend.
 * - Sonnet 5.5's cache reads were cut from $0.20 to $0.10 on 2026-10-07; $0.10 is used.
 * - Haiku 5.5 is left out on purpose: its price depends on each request's prompt length
 *   (a lower band up to 100k tokens), which a flat table cannot express. Its cost is `null`
 *   unless you supply a price.
 * Dated ids (`claude-sonnet-4-5-20250929`) are priced as their undated alias.
 */
export const DEFAULT_ANTHROPIC_PRICING: Readonly<Record<string, ModelPricing>> = Object.freeze({
  'claude-fable-5-1': price(10, 50, 12.5, 0.25),
  'claude-mythos-5-1': price(10, 50, 12.5, 0.25),
  'claude-fable-5': price(10, 50, 12.5, 1),
  'claude-mythos-5': price(10, 50, 12.5, 1),
  'claude-opus-5-5': price(4, 20, 5, 0.2),
  'claude-opus-5': price(5, 25, 6.25, 0.5),
  'claude-opus-4-8': price(5, 25, 6.25, 0.5),
  'claude-opus-4-7': price(5, 25, 6.25, 0.5),
  'claude-opus-4-6': price(5, 25, 6.25, 0.5),
  'claude-opus-4-5': price(5, 25, 6.25, 0.5),
  'claude-sonnet-5-5': price(2, 10, 2.5, 0.1),
  'claude-sonnet-5': price(2, 10, 2.5, 0.2),
  'claude-sonnet-4-6': price(3, 15, 3.75, 0.3),
  'claude-sonnet-4-5': price(3, 15, 3.75, 0.3),
  'claude-haiku-4-5': price(1, 5, 1.25, 0.1),
});

/**
 * Models that answer a forced `tool_choice` with a 400 (their "what's new" pages list it as a
 * breaking change). They get `tool_choice: auto` plus a prompt that demands the tool; an answer
 * without the tool call is then an invalid output like any other. Any other model that rejects
 * forcing is detected from the 400 and switched to `auto` once.
 */
const MODELS_REJECTING_FORCED_TOOL_CHOICE: ReadonlySet<string> = new Set(['claude-sonnet-5-5', 'claude-opus-5-5', 'claude-fable-5-1']);

export type ToolChoiceMode = 'forced' | 'auto';
export type AnthropicEffort = 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface AnthropicCodeGeneratorOptions {
  /** Model id; part of the generator's `id` (`anthropic:<model>`, plus a digest of any output-changing setting: maxTokens, systemPrompt, effort, toolChoice, promptLimits). @default DEFAULT_ANTHROPIC_MODEL ('claude-sonnet-5-5') */
  model?: string;
  /** Upper bound on output tokens per request (thinking included); lowered to a plan's remaining token budget, never below 1024. @default 32000 */
  maxTokens?: number;
  /** API key for a client this generator creates. Not allowed together with `client`. @default process.env.ANTHROPIC_API_KEY (read by the SDK) */
  apiKey?: string;
  /** Base URL for a client this generator creates. Not allowed together with `client`. @default process.env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com' */
  baseURL?: string;
  /** A ready client (for proxies, custom fetch, tests). It is used as is and never closed by the generator. @default a new Anthropic client */
  client?: Anthropic;
  /**
   * Prices by model id, merged over the defaults; `null` removes a model's price. A model without
   * a price reports `costUsd: null`. @default DEFAULT_ANTHROPIC_PRICING
   */
  pricing?: Readonly<Record<string, ModelPricing | null>>;
  /** Replaces the built-in system prompt. The instruction to call `write_files` still ends every request. @default the built-in prompt (see prompts.ts) */
  systemPrompt?: string;
  /** `forced` sends `tool_choice: {type:'tool', name:'write_files'}`; `auto` relies on the prompt. @default 'forced', or 'auto' for models that reject forcing */
  toolChoice?: ToolChoiceMode;
  /** `output_config.effort`. @default the model's own default */
  effort?: AnthropicEffort;
  /** The SDK's retries of a request that fails before streaming starts (429, 5xx, 529, connection errors). @default 2 (or the injected client's setting) */
  maxRetries?: number;
  /** The SDK's per-attempt timeout, which runs until response headers arrive. @default 600000 (or the injected client's setting) */
  requestTimeoutMs?: number;
  /** Our retries of a stream that broke after it started (mid-stream `error` event, dropped connection, idle stream), which the SDK never retries. @default 2 */
  streamRetries?: number;
  /** First wait before a stream retry; doubles each time, capped at 8 s. @default 1000 */
  streamRetryDelayMs?: number;
  /** A started stream that sends no event for this long is abandoned and retried. @default 180000 */
  streamIdleTimeoutMs?: number;
  /** Bounds on what refinement prompts quote. @default DEFAULT_PROMPT_LIMITS */
  promptLimits?: Partial<PromptLimits>;
}

/** The shared `write_files` schema; `strict` makes the API enforce it while the model writes. */
const WRITE_FILES_TOOL: Tool = {
  name: WRITE_FILES_TOOL_NAME,
  description: WRITE_FILES_TOOL_DESCRIPTION,
  strict: true,
  // The shared schema is a readonly literal; the SDK's type wants mutable arrays.
  input_schema: structuredClone(WRITE_FILES_INPUT_JSON_SCHEMA) as unknown as Tool.InputSchema,
};

const OUTPUT_INSTRUCTION = WRITE_FILES_OUTPUT_INSTRUCTION;

const MIN_OUTPUT_TOKENS = 1_024;
const MAX_RETRY_DELAY_MS = 8_000;

interface ResolvedOptions {
  model: string;
  maxTokens: number;
  pricing: Map<string, ModelPricing>;
  systemPrompt: string | undefined;
  toolChoice: ToolChoiceMode;
  toolChoiceExplicit: boolean;
  effort: AnthropicEffort | undefined;
  maxRetries: number | undefined;
  requestTimeoutMs: number | undefined;
  streamRetries: number;
  streamRetryDelayMs: number;
  streamIdleTimeoutMs: number;
  promptLimits: PromptLimits;
}

/** The stream went silent; treated like a dropped connection. */
class StreamIdleError extends Error {
  constructor(idleMs: number) {
    super(`the response stream sent nothing for ${idleMs} ms`);
    this.name = 'StreamIdleError';
  }
}

/** The tool input was not JSON at all (the SDK fails the stream on it): an invalid answer, not a broken stream. */
class InvalidToolJsonError extends Error {
  constructor(detail: string) {
    super(answerProblems.invalidJson(detail));
    this.name = 'InvalidToolJsonError';
  }
}

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
    // Settings that change what the model writes are in the id (and so in the cache key); the
    // defaults keep the plain `anthropic:<model>`, so existing cache entries stay valid.
    const changed = {
      ...(options.maxTokens !== undefined ? { maxTokens: this.options.maxTokens } : {}),
      ...(options.systemPrompt !== undefined ? { systemPrompt: options.systemPrompt } : {}),
      ...(options.effort !== undefined ? { effort: options.effort } : {}),
      ...(options.toolChoice !== undefined ? { toolChoice: options.toolChoice } : {}),
      ...(options.promptLimits !== undefined ? { promptLimits: this.options.promptLimits } : {}),
    };
    this.id = Object.keys(changed).length === 0 ? `anthropic:${this.model}` : `anthropic:${this.model}:${configurationDigest(changed)}`;
    if (options.client !== undefined) {
      if (options.apiKey !== undefined) throw new TypeError('apiKey cannot be combined with client: configure the client instead');
      if (options.baseURL !== undefined) throw new TypeError('baseURL cannot be combined with client: configure the client instead');
      if (!isMessagesClient(options.client)) throw new TypeError('client must be an Anthropic client (with messages.stream)');
      this.client = options.client;
    } else {
      // No I/O here: the SDK resolves credentials lazily, on the first request.
      this.client = new Anthropic({
        ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
        ...(options.baseURL !== undefined ? { baseURL: options.baseURL } : {}),
        ...(this.options.maxRetries !== undefined ? { maxRetries: this.options.maxRetries } : {}),
        ...(this.options.requestTimeoutMs !== undefined ? { timeout: this.options.requestTimeoutMs } : {}),
      });
    }
    const secrets: string[] = [];
    if (options.apiKey) secrets.push(options.apiKey);
    const clientKey: unknown = (this.client as { apiKey?: unknown }).apiKey;
    if (typeof clientKey === 'string' && clientKey) secrets.push(clientKey);
    const clientToken: unknown = (this.client as { authToken?: unknown }).authToken;
    if (typeof clientToken === 'string' && clientToken) secrets.push(clientToken);
    this.redactor = new Redactor(secrets);
  }

  /** The price used for a model id, if any (exact id first, then the id without a date suffix). */
  pricingFor(model: string): ModelPricing | undefined {
    return this.options.pricing.get(model) ?? this.options.pricing.get(model.replace(/-\d{8}$/, ''));
  }

  async generate(request: GenerationRequest, context: GenerationContext): Promise<GenerationResult> {
    const { signal } = context;
    throwIfAborted(signal);
    const prompt = buildGenerationPrompt(request, {
      outputInstruction: OUTPUT_INSTRUCTION,
      ...(this.options.systemPrompt !== undefined ? { systemPrompt: this.options.systemPrompt } : {}),
      limits: this.options.promptLimits,
    });
    const maxTokens =
      request.remainingTokens === undefined
        ? this.options.maxTokens
        : Math.min(this.options.maxTokens, Math.max(MIN_OUTPUT_TOKENS, Math.floor(request.remainingTokens)));

    const calls: CallUsage[] = [];
    const progress = new ProgressReporter(context);
    return generateWithOneRetry(
      {
        ask: async (retryNote) => {
          let message: Message;
          try {
            message = await this.callWithStreamRetries({ prompt, retryNote, maxTokens }, calls, progress, signal);
          } catch (error) {
            if (signal.aborted) throw abortReason(signal);
            if (error instanceof InvalidToolJsonError) return { ok: false, problem: error.message };
            throw this.toGenerationError(error, totalUsage(calls));
          }
          return readAnswer(message, maxTokens);
        },
        onRetry: (problem) => progress.report({ message: `the answer could not be used (${this.redactor.text(problem)}); asking again` }),
        usage: () => totalUsage(calls),
        redact: (text) => this.redactor.text(text),
      },
      buildRetryNote,
    );
  }

  private buildParams(input: { prompt: ReturnType<typeof buildGenerationPrompt>; retryNote: string | undefined; maxTokens: number }): MessageStreamParams {
    const { prompt } = input;
    const forced = this.toolChoiceMode() === 'forced';
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
      model: this.model,
      max_tokens: input.maxTokens,
      system,
      tools: [WRITE_FILES_TOOL],
      tool_choice: toolChoice,
      messages: [{ role: 'user', content }],
      ...(this.options.effort !== undefined ? { output_config: { effort: this.options.effort } } : {}),
    };
  }

  private toolChoiceMode(): ToolChoiceMode {
    return this.forcedToolChoiceRejected ? 'auto' : this.options.toolChoice;
  }

  /** One answer: a streamed call, retried when the stream breaks after it started. */
  private async callWithStreamRetries(
    input: Parameters<AnthropicCodeGenerator['buildParams']>[0],
    calls: CallUsage[],
    progress: ProgressReporter,
    signal: AbortSignal,
  ): Promise<Message> {
    for (let retry = 0; ; retry += 1) {
      try {
        return await this.streamOnce(this.buildParams(input), calls, progress, signal);
      } catch (error) {
        if (signal.aborted) throw abortReason(signal);
        if (this.isForcedToolChoiceRejection(error)) {
          // Not counted as a retry: the request was refused before any generation.
          this.forcedToolChoiceRejected = true;
          progress.report({ message: `${this.model} does not accept a forced tool choice; using tool_choice auto` });
          retry -= 1;
          continue;
        }
        if (!isBrokenStream(error) || retry >= this.options.streamRetries) throw error;
        const delayMs = Math.min(MAX_RETRY_DELAY_MS, this.options.streamRetryDelayMs * 2 ** retry);
        progress.report({
          message: `the response stream broke (${this.redactor.text(describeError(error))}); retry ${retry + 1} of ${this.options.streamRetries} in ${delayMs} ms`,
        });
        await delay(delayMs, signal);
      }
    }
  }

  private async streamOnce(params: MessageStreamParams, calls: CallUsage[], progress: ProgressReporter, signal: AbortSignal): Promise<Message> {
    throwIfAborted(signal);
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const idleMs = this.options.streamIdleTimeoutMs;
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
      ...(this.options.maxRetries !== undefined ? { maxRetries: this.options.maxRetries } : {}),
      ...(this.options.requestTimeoutMs !== undefined ? { timeout: this.options.requestTimeoutMs } : {}),
    };
    progress.startCall();
    try {
      const stream = this.client.messages.stream(params, requestOptions);
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
          pricing: (responseModel ? this.pricingFor(responseModel) : undefined) ?? this.pricingFor(this.model),
        });
      } else {
        calls.push({ inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, pricing: this.pricingFor(this.model) });
      }
    }
  }

  private isForcedToolChoiceRejection(error: unknown): boolean {
    if (this.forcedToolChoiceRejected || this.options.toolChoiceExplicit || this.options.toolChoice !== 'forced') return false;
    if (!(error instanceof Anthropic.APIError) || error.status !== 400) return false;
    const text = `${error.apiMessage ?? ''} ${error.message}`;
    return /tool_choice|forced tool|tool choice/i.test(text);
  }

  private toGenerationError(error: unknown, usage: Usage): GenerationError {
    const retryable = !isPermanentFailure(error);
    const what = error instanceof StreamIdleError ? 'The response stream stalled' : 'The Anthropic API request failed';
    const suffix = retryable ? '' : ' (not retried: fix the request, credentials or model)';
    return new GenerationError(this.redactor.text(`${what}: ${describeError(error)}${suffix}`), {
      retryable,
      usage,
      cause: this.safeCause(error),
    });
  }

  /** The foreign error as `cause`, unless it carries a secret; then a redacted stand-in. */
  private safeCause(error: unknown): unknown {
    if (!(error instanceof Error)) return typeof error === 'string' ? this.redactor.text(error) : error;
    if (this.redactor.size === 0) return error;
    const texts = [error.message, error.stack ?? ''];
    const body: unknown = (error as { error?: unknown }).error;
    if (body !== undefined) texts.push(safeJson(body));
    const nested: unknown = error.cause;
    const nestedSafe = nested === undefined ? undefined : this.safeCause(nested);
    if (texts.every((text) => this.redactor.text(text) === text) && nestedSafe === nested) return error;
    const standIn = new Error(this.redactor.text(error.message), nestedSafe === undefined ? undefined : { cause: nestedSafe });
    standIn.name = error.name;
    if (error.stack) standIn.stack = this.redactor.text(error.stack);
    for (const key of ['status', 'type', 'requestID', 'errorCode'] as const) {
      const value: unknown = (error as unknown as Record<string, unknown>)[key];
      if (value !== undefined) Object.defineProperty(standIn, key, { value: typeof value === 'string' ? this.redactor.text(value) : value, enumerable: true });
    }
    return standIn;
  }
}

/** Turns the final message into files, or a problem stated for the model. */
function readAnswer(message: Message, maxTokens: number): WriteFilesAnswer {
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

/**
 * A stream that started and then broke. The SDK retries failures at request start itself
 * (429, 5xx, 529, connection errors, timeouts); it never retries these, so we do.
 */
function isBrokenStream(error: unknown): boolean {
  if (error instanceof StreamIdleError) return true;
  if (error instanceof Anthropic.APIUserAbortError || error instanceof Anthropic.APIConnectionError) return false;
  // A mid-stream `event: error` is an APIError without an HTTP status.
  if (error instanceof Anthropic.APIError) return error.status === undefined;
  // A dropped socket surfaces as AnthropicError('terminated'), an early end as "request ended…".
  return error instanceof Anthropic.AnthropicError;
}

/** Failures that the next iteration would repeat: bad credentials, a refused or malformed request, an unknown model. */
function isPermanentFailure(error: unknown): boolean {
  if (error instanceof Anthropic.APIError && typeof error.status === 'number') {
    return PERMANENT_HTTP_STATUSES.has(error.status);
  }
  // The SDK found no credentials anywhere: a plain Error, which the streaming helper re-throws
  // wrapped in an AnthropicError. Retrying would spend the run's time repeating it.
  return error instanceof Error && !(error instanceof Anthropic.APIError) && /could not resolve authentication method/i.test(error.message);
}

function describeError(error: unknown): string {
  if (error instanceof Anthropic.APIError) {
    const parts: string[] = [];
    if (error.status !== undefined) parts.push(String(error.status));
    if (error.type) parts.push(error.type);
    parts.push(error.apiMessage ?? error.message);
    return parts.join(' ');
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

function isMessagesClient(value: unknown): value is Anthropic {
  const messages: unknown = value && typeof value === 'object' ? (value as { messages?: unknown }).messages : undefined;
  return !!messages && typeof (messages as { stream?: unknown }).stream === 'function';
}

function resolveOptions(options: AnthropicCodeGeneratorOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('AnthropicCodeGenerator: options must be an object');
  rejectUnknownKeys('AnthropicCodeGenerator', options, ANTHROPIC_CODE_GENERATOR_OPTION_NAMES);
  const model = options.model ?? DEFAULT_ANTHROPIC_MODEL;
  if (typeof model !== 'string' || model.trim() === '' || model !== model.trim()) {
    throw new TypeError('model must be a non-empty model id without surrounding spaces');
  }
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey === '')) {
    throw new TypeError('apiKey must be a non-empty string');
  }
  if (options.baseURL !== undefined) {
    try {
      new URL(options.baseURL);
    } catch {
      throw new TypeError('baseURL must be an absolute URL');
    }
  }
  if (options.systemPrompt !== undefined && (typeof options.systemPrompt !== 'string' || options.systemPrompt.trim() === '')) {
    throw new TypeError('systemPrompt must be a non-empty string');
  }
  if (options.toolChoice !== undefined && options.toolChoice !== 'forced' && options.toolChoice !== 'auto') {
    throw new TypeError(`toolChoice must be 'forced' or 'auto', got ${String(options.toolChoice)}`);
  }
  const efforts: readonly string[] = ['low', 'medium', 'high', 'xhigh', 'max'];
  if (options.effort !== undefined && !efforts.includes(options.effort)) {
    throw new TypeError(`effort must be one of ${efforts.join(', ')}, got ${String(options.effort)}`);
  }

  const pricing = new Map<string, ModelPricing>(Object.entries(DEFAULT_ANTHROPIC_PRICING));
  if (options.pricing !== undefined) {
    if (options.pricing === null || typeof options.pricing !== 'object') throw new TypeError('pricing must be an object keyed by model id');
    for (const [id, entry] of Object.entries(options.pricing)) {
      if (entry === null) {
        pricing.delete(id);
        continue;
      }
      const fields = ['inputUsdPerMillionTokens', 'outputUsdPerMillionTokens', 'cacheWriteUsdPerMillionTokens', 'cacheReadUsdPerMillionTokens'] as const;
      for (const field of fields) {
        const value: unknown = entry?.[field];
        if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
          throw new TypeError(`pricing["${id}"].${field} must be a non-negative number, got ${String(value)}`);
        }
      }
      pricing.set(id, price(entry.inputUsdPerMillionTokens, entry.outputUsdPerMillionTokens, entry.cacheWriteUsdPerMillionTokens, entry.cacheReadUsdPerMillionTokens));
    }
  }

  return {
    model,
    maxTokens: positiveInteger('maxTokens', options.maxTokens, 32_000),
    pricing,
    systemPrompt: options.systemPrompt,
    toolChoice: options.toolChoice ?? (MODELS_REJECTING_FORCED_TOOL_CHOICE.has(model.replace(/-\d{8}$/, '')) ? 'auto' : 'forced'),
    toolChoiceExplicit: options.toolChoice !== undefined,
    effort: options.effort,
    maxRetries: options.maxRetries === undefined ? undefined : nonNegativeInteger('maxRetries', options.maxRetries, 0),
    requestTimeoutMs: options.requestTimeoutMs === undefined ? undefined : durationMs('requestTimeoutMs', options.requestTimeoutMs, 0),
    streamRetries: nonNegativeInteger('streamRetries', options.streamRetries, 2),
    streamRetryDelayMs: durationMs('streamRetryDelayMs', options.streamRetryDelayMs, 1_000, 0),
    streamIdleTimeoutMs: durationMs('streamIdleTimeoutMs', options.streamIdleTimeoutMs, 180_000),
    promptLimits: resolvePromptLimits(options.promptLimits),
  };
}
