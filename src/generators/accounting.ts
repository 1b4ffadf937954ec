import type { Usage } from '../bundle.js';
import type { GenerationContext } from '../contracts/code-generator.js';

/** USD per million tokens of each kind. */
export interface ModelPricing {
  inputUsdPerMillionTokens: number;
  outputUsdPerMillionTokens: number;
  /** Writing the prompt cache. */
  cacheWriteUsdPerMillionTokens: number;
  cacheReadUsdPerMillionTokens: number;
}

/** One model call's accounting. `inputTokens` excludes cached input, as Anthropic counts it. */
export interface CallUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  /** The price of this call; `undefined` when unknown (no price, or the provider reported no counts). */
  pricing: ModelPricing | undefined;
}

export function costOf(call: CallUsage, pricing: ModelPricing): number {
  return (
    (call.inputTokens * pricing.inputUsdPerMillionTokens +
      call.outputTokens * pricing.outputUsdPerMillionTokens +
      call.cacheCreationInputTokens * pricing.cacheWriteUsdPerMillionTokens +
      call.cacheReadInputTokens * pricing.cacheReadUsdPerMillionTokens) /
    1_000_000
  );
}

/** Sums the calls of one `generate`; the cost is `null` as soon as one call cannot be priced. */
export function totalUsage(calls: readonly CallUsage[]): Usage {
  let costUsd: number | null = 0;
  const total = { inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 };
  for (const call of calls) {
    total.inputTokens += call.inputTokens;
    total.outputTokens += call.outputTokens;
    total.cacheCreationInputTokens += call.cacheCreationInputTokens;
    total.cacheReadInputTokens += call.cacheReadInputTokens;
    costUsd = costUsd === null || call.pricing === undefined ? null : costUsd + costOf(call, call.pricing);
  }
  return { ...total, apiCalls: calls.length, costUsd };
}

/** Emits progress with the output tokens of this `generate` call so far, never going backwards. */
export class ProgressReporter {
  private finishedTokens = 0;
  private currentTokens = 0;
  private lastReported = -1;
  lastCallOutputTokens = 0;

  constructor(private readonly context: GenerationContext) {}

  startCall(): void {
    this.currentTokens = 0;
    this.lastCallOutputTokens = 0;
  }

  update(callOutputTokens: number): void {
    this.currentTokens = Math.max(this.currentTokens, callOutputTokens);
    const total = this.finishedTokens + this.currentTokens;
    if (total === this.lastReported) return;
    this.lastReported = total;
    this.emit({ outputTokens: total });
  }

  /** `exact`: the API's own count, which replaces our estimate (it may be lower). */
  finishCall(callOutputTokens: number, exact: boolean): void {
    this.lastCallOutputTokens = exact ? callOutputTokens : Math.max(this.currentTokens, callOutputTokens);
    this.finishedTokens += this.lastCallOutputTokens;
    this.currentTokens = 0;
    if (this.finishedTokens !== this.lastReported) {
      this.lastReported = this.finishedTokens;
      this.emit({ outputTokens: this.finishedTokens });
    }
  }

  report(input: { message: string }): void {
    this.emit({ outputTokens: this.finishedTokens + this.currentTokens, message: input.message });
  }

  private emit(progress: { outputTokens: number; message?: string }): void {
    try {
      this.context.onProgress(progress);
    } catch {
      // An observer's failure must not fail the generation.
    }
  }
}

/** Rough characters per output token, for progress between the API's own counts. */
export const CHARS_PER_TOKEN = 4;

/** The smallest output limit a request gets, however little of a plan's token budget is left. */
const MIN_OUTPUT_TOKENS = 1_024;

/** The configured output limit lowered to a plan's remaining token budget, never below 1024. */
export function capOutputTokens(configured: number, remainingTokens: number | undefined): number;
export function capOutputTokens(configured: number | undefined, remainingTokens: number | undefined): number | undefined;
export function capOutputTokens(configured: number | undefined, remainingTokens: number | undefined): number | undefined {
  if (remainingTokens === undefined) return configured;
  const budget = Math.max(MIN_OUTPUT_TOKENS, Math.floor(remainingTokens));
  return configured === undefined ? budget : Math.min(configured, budget);
}
