import type { GeneratedFile, GeneratedFileInput, TestCase, TestReport, Usage } from '../bundle.js';
import type { Plan } from '../plan.js';
import type { TestPreset } from '../reports/presets.js';

/** What the generator is asked to do in one iteration. */
export interface GenerationRequest {
  readonly executionId: string;
  /** 1-based. Iteration 1 writes from scratch; later ones refine `previousFiles`. */
  readonly iteration: number;
  readonly plan: Plan;
  /** The test preset the files will be run with: how tests are laid out, named and run. */
  readonly testPreset: TestPreset;
  /** Files of the previous attempt (acceptance tests excluded). Empty in iteration 1. */
  readonly previousFiles: readonly GeneratedFile[];
  /** The previous attempt's test report, when it ran. */
  readonly previousReport?: TestReport;
  /** The failing and errored cases of the previous report, worst first. */
  readonly failures: readonly TestCase[];
  /**
   * Why the previous attempt produced no test result, stated for the model: rejected paths, an
   * invalid output, a generation error. Absent when the previous attempt ran its tests.
   */
  readonly problem?: string;
  /** Paths the model may read but must never write (the plan's acceptance tests). */
  readonly protectedPaths: readonly string[];
  /** Tokens left in the run's budget, when the plan sets one; a generator may cap its output with it. */
  readonly remainingTokens?: number;
  /**
   * Which of the plan's independent first attempts this request writes (`plan.candidates` above
   * 1; iteration 1 only): `index` is 1-based, `count` is how many there are. A generator may vary
   * its approach or sampling by it, so that candidates differ; the built-in ones say it in the
   * prompt. Absent for a single attempt and for every later iteration.
   */
  readonly candidate?: { readonly index: number; readonly count: number };
}

export interface GenerationProgress {
  /** Output tokens generated so far in this call. */
  outputTokens: number;
  /** Optional human-readable detail, e.g. "retrying after 429". */
  message?: string;
}

export interface GenerationContext {
  /** Aborted when the run is cancelled or times out; pass it to every request. */
  readonly signal: AbortSignal;
  /** Report progress as it streams; cheap to call often. */
  onProgress(progress: GenerationProgress): void;
}

export interface GenerationResult {
  files: GeneratedFileInput[];
  usage: Usage;
  /** Short notes from the model, e.g. why it changed a test. */
  notes?: string;
}

/**
 * Writes code and tests. Implementations: `AnthropicCodeGenerator` (`ptc-agent/anthropic`),
 * `ScriptedCodeGenerator` (`ptc-agent/testing`), or your own.
 *
 * Throw a `GenerationError` for a failed attempt: `retryable: false` ends the run, otherwise the
 * next iteration gets the message as its `problem`. Any other thrown value is treated as a
 * retryable generation failure. Honour `context.signal`.
 */
export interface CodeGenerator {
  /** Stable identity, part of the cache key, e.g. `anthropic:claude-sonnet-4-5`. */
  readonly id: string;
  generate(request: GenerationRequest, context: GenerationContext): Promise<GenerationResult>;
}

export type { GeneratedFile };
