import type Anthropic from '@anthropic-ai/sdk';
import { durationMs, nonNegativeInteger, positiveInteger, rejectUnknownKeys } from '../../internal/validate.js';
import type { ModelPricing } from '../accounting.js';
import { configurationDigest } from '../identity.js';
import { resolvePromptLimits, type PromptLimits } from '../prompts.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const ANTHROPIC_CODE_GENERATOR_OPTION_NAMES = ['model', 'maxTokens', 'apiKey', 'baseURL', 'client', 'pricing', 'systemPrompt', 'toolChoice', 'effort', 'maxRetries', 'requestTimeoutMs', 'streamRetries', 'streamRetryDelayMs', 'streamIdleTimeoutMs', 'promptLimits'] as const satisfies readonly (keyof AnthropicCodeGeneratorOptions)[];

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

export interface ResolvedOptions {
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

/** `anthropic:<model>`, plus a digest of the settings given that change what the model writes. */
export function generatorId(options: AnthropicCodeGeneratorOptions, resolved: ResolvedOptions): string {
  // Settings that change what the model writes are in the id (and so in the cache key); the
  // defaults keep the plain `anthropic:<model>`, so existing cache entries stay valid.
  const changed = {
    ...(options.maxTokens !== undefined ? { maxTokens: resolved.maxTokens } : {}),
    ...(options.systemPrompt !== undefined ? { systemPrompt: options.systemPrompt } : {}),
    ...(options.effort !== undefined ? { effort: options.effort } : {}),
    ...(options.toolChoice !== undefined ? { toolChoice: options.toolChoice } : {}),
    ...(options.promptLimits !== undefined ? { promptLimits: resolved.promptLimits } : {}),
  };
  return Object.keys(changed).length === 0 ? `anthropic:${resolved.model}` : `anthropic:${resolved.model}:${configurationDigest(changed)}`;
}

/** The price used for a model id, if any (exact id first, then the id without a date suffix). */
export function pricingFor(pricing: ReadonlyMap<string, ModelPricing>, model: string): ModelPricing | undefined {
  return pricing.get(model) ?? pricing.get(model.replace(/-\d{8}$/, ''));
}

export function resolveOptions(options: AnthropicCodeGeneratorOptions): ResolvedOptions {
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
