import type { LanguageModel } from 'ai';
import { canonicalJson } from '../../internal/canonical-json.js';
import { durationMs, nonNegativeInteger, positiveInteger, rejectUnknownKeys } from '../../internal/validate.js';
import type { ModelPricing } from '../accounting.js';
import { configurationDigest } from '../identity.js';
import { resolvePromptLimits, type PromptLimits } from '../prompts.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const AI_SDK_CODE_GENERATOR_OPTION_NAMES = ['model', 'maxOutputTokens', 'temperature', 'topP', 'topK', 'seed', 'providerOptions', 'systemPrompt', 'toolChoice', 'pricing', 'maxRetries', 'timeoutMs', 'chunkTimeoutMs', 'promptLimits'] as const satisfies readonly (keyof AiSdkCodeGeneratorOptions)[];

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

export interface ResolvedOptions {
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

const DEFAULT_CHUNK_TIMEOUT_MS = 180_000;

/** `ai-sdk:<provider>:<model id>:<12 hex digits of the output-shaping configuration>`. */
export function generatorId(options: ResolvedOptions): string {
  return `ai-sdk:${options.model.provider}:${options.model.modelId}:${configurationDigest(outputSettings(options))}`;
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

export function resolveOptions(options: AiSdkCodeGeneratorOptions): ResolvedOptions {
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
  const maxRetries = nonNegativeInteger('maxRetries', options.maxRetries, 2);
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
    maxRetries,
    timeoutMs: options.timeoutMs === undefined ? undefined : durationMs('timeoutMs', options.timeoutMs, 0),
    chunkTimeoutMs: durationMs('chunkTimeoutMs', options.chunkTimeoutMs, DEFAULT_CHUNK_TIMEOUT_MS),
    promptLimits: resolvePromptLimits(options.promptLimits),
  };
}
