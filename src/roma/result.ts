/** Result out: our bundle as ROMA's `PTCArtifactResult`. */
import type { ArtifactBundle, BundleFile, TestReport, Usage } from '../bundle.js';
import { languageOf as languageOfPath } from '../internal/files.js';
import { romaCacheKey } from './cache-key.js';
import { normaliseRomaDependencies } from './dependencies.js';
import {
  type RomaArtifactResult,
  type RomaCodeArtifact,
  type RomaExecutionPlan,
  type RomaLLMUsage,
  type RomaTestResult,
} from './schemas.js';
import { formatNaiveUtc } from './pydantic-fields.js';
import { toRomaArtifactType, toRomaStatus } from './status.js';

export interface ToRomaResultOptions {
  /**
   * The ROMA plan the bundle answers. Its `execution_id` is echoed (ROMA's may not fit our id
   * rules), and `cache_key` is its ROMA cache key. Without it, the bundle's execution id and
   * our cache key are used.
   */
  plan?: RomaExecutionPlan;
  /**
   * How a bundle served from our cache is reported. `'underlying'` keeps its status (`SUCCESS`,
   * or `PARTIAL_SUCCESS` under the `always` strategy) and sets `from_cache: true`: ROMA's client
   * itself returns cached results unchanged, and `CACHE_HIT` would pass a partial result off as
   * a success. `'CACHE_HIT'` reports successful hits as `CACHE_HIT` (still `from_cache: true`).
   * @default 'underlying'
   */
  cacheHitStatus?: 'underlying' | 'CACHE_HIT';
  /** Extra entries merged into `metadata` (ours win over the bundle's). @default {} */
  metadata?: Record<string, unknown>;
}

/**
 * Provider names as ROMA's `LLMProvider` spells them, by the prefix of our generator ids
 * (`anthropic:claude-…` → `claude`). Other prefixes are passed through (the field is free text).
 */
const ROMA_PROVIDER_NAMES: Readonly<Record<string, string>> = {
  anthropic: 'claude',
  claude: 'claude',
  openai: 'openai',
  moonshot: 'kimi',
  kimi: 'kimi',
};

/** `{ provider, model }` of a generator id: `anthropic:claude-sonnet-4-5` → `claude`, `claude-sonnet-4-5`. */
export function romaProviderOf(generatorId: string): { provider: string; model: string } {
  const separator = generatorId.indexOf(':');
  if (separator === -1) return { provider: ROMA_PROVIDER_NAMES[generatorId] ?? generatorId, model: generatorId };
  const prefix = generatorId.slice(0, separator);
  return { provider: ROMA_PROVIDER_NAMES[prefix] ?? prefix, model: generatorId.slice(separator + 1) || generatorId };
}

function languageOf(file: BundleFile): string | null {
  return file.language ?? languageOfPath(file.path) ?? null;
}

function toRomaArtifact(file: BundleFile): RomaCodeArtifact {
  return {
    file_path: file.path,
    content: file.content,
    artifact_type: toRomaArtifactType(file.kind),
    language: languageOf(file),
    description: file.description ?? null,
  };
}

function toRomaTestResult(report: TestReport): RomaTestResult {
  return {
    test_command: report.command,
    // Killed before it exited (a timeout): Python's convention for a killed child is a negative code.
    exit_code: report.exitCode ?? -1,
    stdout: report.stdout,
    stderr: report.stderr,
    tests_passed: report.passed,
    // ROMA's `TestResult.success` is `exit_code == 0 and tests_failed == 0`: errored cases count as failed.
    tests_failed: report.failed + report.errored,
    duration_seconds: report.durationMs / 1_000,
  };
}

function toRomaUsage(generatorId: string, usage: Usage): RomaLLMUsage {
  const { provider, model } = romaProviderOf(generatorId);
  const promptTokens = usage.inputTokens + usage.cacheCreationInputTokens + usage.cacheReadInputTokens;
  return {
    provider,
    model,
    prompt_tokens: promptTokens,
    completion_tokens: usage.outputTokens,
    total_tokens: promptTokens + usage.outputTokens,
    api_calls: usage.apiCalls,
    cost_usd: usage.costUsd,
  };
}

/** Python prints naive UTC datetimes without `Z`; our timings are ISO strings with `Z`. */
function naive(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? formatNaiveUtc(new Date()) : formatNaiveUtc(date);
}

/**
 * A bundle as ROMA's `PTCArtifactResult`, fully populated like `model_dump(mode="json")`.
 *
 * - status: see `toRomaStatus`; a cancelled run is `FAILURE` with an error message starting
 *   `cancelled:`. Cache hits: see `cacheHitStatus`.
 * - `artifacts`: the bundle's files (the best iteration plus acceptance tests), kinds mapped
 *   (`source` → `source_code`), `language` from the file or its extension.
 * - `test_results`: from the best iteration's report; `tests_failed` counts errored cases too.
 * - `llm_usage`: one entry for our one generator, `provider`/`model` from its id
 *   (`anthropic:<model>` → `claude`, the name ROMA's `LLMProvider` uses); prompt tokens include
 *   cache reads and writes. Empty for a cache hit (it spent nothing) and when no call was made.
 * - timestamps: naive UTC ISO with microseconds, as Python prints `utcnow()`.
 * - `metadata`: `sandbox_id` (ROMA's example field), and our `stop_reason`, `status` and ids.
 * - `warnings`: with `plan`, first what became of ROMA's dependencies (a marker dropped, a
 *   descriptive entry left out), then the run's own warnings.
 */
export function toRomaResult(bundle: ArtifactBundle, options: ToRomaResultOptions = {}): RomaArtifactResult {
  const cacheHitStatus = options.cacheHitStatus ?? 'underlying';
  if (cacheHitStatus !== 'underlying' && cacheHitStatus !== 'CACHE_HIT') {
    throw new TypeError(`cacheHitStatus must be 'underlying' or 'CACHE_HIT', got ${String(cacheHitStatus)}`);
  }
  let status = toRomaStatus(bundle.status);
  if (bundle.fromCache && cacheHitStatus === 'CACHE_HIT' && bundle.status === 'success') status = 'CACHE_HIT';

  let errorMessage = bundle.error?.message ?? null;
  if (bundle.status === 'cancelled') errorMessage = `cancelled: ${errorMessage ?? 'the run was cancelled'}`;
  else if (bundle.status !== 'success' && errorMessage === null) errorMessage = `run ended with status ${bundle.status} (${bundle.stopReason})`;

  const spentNothing = bundle.fromCache || (bundle.usage.apiCalls === 0 && bundle.usage.inputTokens + bundle.usage.outputTokens === 0);
  const metadata: Record<string, unknown> = {
    ...(bundle.sandbox ? { sandbox_id: bundle.sandbox.id, sandbox_runner: bundle.sandbox.runner } : {}),
    ptc_status: bundle.status,
    stop_reason: bundle.stopReason,
    ptc_execution_id: bundle.executionId,
    ptc_cache_key: bundle.cacheKey ?? null,
    generator: bundle.generator,
    language: bundle.language,
    best_iteration: bundle.bestIteration,
    ...(bundle.error ? { error_code: bundle.error.code } : {}),
    ...options.metadata,
  };

  return {
    execution_id: options.plan?.execution_id ?? bundle.executionId,
    status,
    artifacts: bundle.files.map(toRomaArtifact),
    test_results: bundle.testReport ? toRomaTestResult(bundle.testReport) : null,
    iterations_used: bundle.iterations.length,
    error_message: errorMessage,
    warnings: [...(options.plan ? normaliseRomaDependencies(options.plan.scaffolding.dependencies).warnings : []), ...bundle.warnings],
    llm_usage: spentNothing ? [] : [toRomaUsage(bundle.generator, bundle.usage)],
    started_at: naive(bundle.timings.startedAt),
    completed_at: naive(bundle.timings.endedAt),
    duration_seconds: bundle.timings.totalMs / 1_000,
    from_cache: bundle.fromCache,
    cache_key: options.plan ? romaCacheKey(options.plan) : (bundle.cacheKey ?? null),
    metadata,
  };
}

/**
 * The FAILURE body ROMA's server template answers (HTTP 200) when a run could not even start,
 * e.g. the agent threw: every other field at its default.
 */
export function romaFailureResult(executionId: string, message: string, startedAt: Date, completedAt = new Date()): RomaArtifactResult {
  return {
    execution_id: executionId,
    status: 'FAILURE',
    artifacts: [],
    test_results: null,
    iterations_used: 1,
    error_message: message,
    warnings: [],
    llm_usage: [],
    started_at: formatNaiveUtc(startedAt),
    completed_at: formatNaiveUtc(completedAt),
    duration_seconds: Math.max(0, completedAt.getTime() - startedAt.getTime()) / 1_000,
    from_cache: false,
    cache_key: null,
    metadata: {},
  };
}
