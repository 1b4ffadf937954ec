import type { LanguageModelUsage } from 'ai';
import { CHARS_PER_TOKEN, type CallUsage, type ModelPricing, type ProgressReporter } from '../accounting.js';

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

/** Adds each call's usage to a `generate`'s calls; says once per generator when a provider reports none. */
export class CallRecorder {
  private warnedMissingUsage = false;

  constructor(
    private readonly provider: string,
    private readonly pricing: ModelPricing | undefined,
  ) {}

  record(calls: CallUsage[], progress: ProgressReporter, usage: LanguageModelUsage | undefined, streamedChars: number): void {
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
      pricing: complete || nothingHappened ? this.pricing : undefined,
    });
  }
}
