import type { GeneratedFileInput, Usage } from '../bundle.js';
import type { CodeGenerator, GenerationContext, GenerationRequest, GenerationResult } from '../contracts/code-generator.js';
import { delay } from './delay.js';

/** One scripted answer: files (a success) or an error to throw. */
export type ScriptedStep =
  | { files: GeneratedFileInput[]; usage?: Partial<Usage>; notes?: string; delayMs?: number }
  | { error: Error; delayMs?: number };

export type GeneratorScript =
  | ScriptedStep
  | readonly ScriptedStep[]
  | ((request: GenerationRequest, context: GenerationContext) => ScriptedStep | Promise<ScriptedStep>);

export interface ScriptedCodeGeneratorOptions {
  /** Part of the cache key. @default 'scripted' */
  id?: string;
  /** Added before every answer; honours the abort signal. @default 0 */
  latencyMs?: number;
  /** Output tokens reported as progress while "generating". @default 0 (no progress events) */
  progressTokens?: number;
  /**
   * Keep every request in `calls`. Turn off for long runs (benchmarks, load tests), where the
   * retained requests would grow without bound; `callCount` counts either way.
   * @default true
   */
  retainCalls?: boolean;
}

const DEFAULT_USAGE: Usage = {
  inputTokens: 100,
  outputTokens: 50,
  cacheCreationInputTokens: 0,
  cacheReadInputTokens: 0,
  apiCalls: 1,
  costUsd: 0,
};

/**
 * A `CodeGenerator` that answers from a script instead of a model: one fixed answer, one answer
 * per call (the last repeats once the list runs out), or a function of the request. It records
 * every request in `calls`, so tests can check what the agent asked for.
 */
export class ScriptedCodeGenerator implements CodeGenerator {
  readonly id: string;
  readonly calls: GenerationRequest[] = [];
  /** Requests answered so far (also with `retainCalls: false`). */
  callCount = 0;
  private readonly script: GeneratorScript;
  private readonly retainCalls: boolean;
  private readonly latencyMs: number;
  private readonly progressTokens: number;

  constructor(script: GeneratorScript, options: ScriptedCodeGeneratorOptions = {}) {
    if (Array.isArray(script) && script.length === 0) throw new TypeError('script must contain at least one step');
    this.script = script;
    this.id = options.id ?? 'scripted';
    this.latencyMs = options.latencyMs ?? 0;
    this.progressTokens = options.progressTokens ?? 0;
    this.retainCalls = options.retainCalls ?? true;
  }

  async generate(request: GenerationRequest, context: GenerationContext): Promise<GenerationResult> {
    const index = this.callCount;
    this.callCount += 1;
    if (this.retainCalls) this.calls.push(request);
    const step = await this.stepFor(index, request, context);
    const stepDelay = (step.delayMs ?? 0) + this.latencyMs;
    if (stepDelay > 0 || context.signal.aborted) await delay(stepDelay, context.signal);
    if (this.progressTokens > 0) context.onProgress({ outputTokens: this.progressTokens });
    if ('error' in step) throw step.error;
    const result: GenerationResult = { files: step.files, usage: { ...DEFAULT_USAGE, ...step.usage } };
    if (step.notes !== undefined) result.notes = step.notes;
    return result;
  }

  private async stepFor(index: number, request: GenerationRequest, context: GenerationContext): Promise<ScriptedStep> {
    if (typeof this.script === 'function') return this.script(request, context);
    if (Array.isArray(this.script)) {
      const steps = this.script as readonly ScriptedStep[];
      return steps[Math.min(index, steps.length - 1)]!;
    }
    return this.script as ScriptedStep;
  }
}
