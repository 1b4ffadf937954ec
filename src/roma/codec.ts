import { createHash } from 'node:crypto';
import type { ArtifactBundle, BundleFile, BundleStatus, FileKind, TestReport, Usage } from '../bundle.js';
import { PlanValidationError, type PlanIssue } from '../errors.js';
import { type Language, type Plan, parsePlan } from '../plan.js';
import { languageOf as languageOfPath } from '../internal/files.js';
import { normaliseRomaDependencies } from './dependencies.js';
import { comparePythonStrings, pythonJsonDumps, pythonStrip } from './python-json.js';
import {
  type RomaArtifactResult,
  type RomaArtifactType,
  type RomaCodeArtifact,
  type RomaErrorDetail,
  type RomaExecutionPlan,
  type RomaExecutionStatus,
  type RomaGenerateRequest,
  type RomaGenerateResponse,
  type RomaLLMUsage,
  RomaPlanValidationError,
  type RomaTestResult,
  formatNaiveUtc,
  parseRomaGenerateRequest,
  parseRomaPlan,
} from './schemas.js';

// ---------------------------------------------------------------------------------------------
// Statuses and file kinds, both ways

const STATUS_TO_ROMA: Readonly<Record<BundleStatus, RomaExecutionStatus>> = {
  success: 'SUCCESS',
  partial_success: 'PARTIAL_SUCCESS',
  failure: 'FAILURE',
  timeout: 'TIMEOUT',
  // ROMA has no "cancelled": the run produced nothing it can rely on.
  cancelled: 'FAILURE',
};

const STATUS_FROM_ROMA: Readonly<Record<RomaExecutionStatus, BundleStatus>> = {
  SUCCESS: 'success',
  PARTIAL_SUCCESS: 'partial_success',
  FAILURE: 'failure',
  TIMEOUT: 'timeout',
  // ROMA counts CACHE_HIT as a success (`PTCArtifactResult.success`).
  CACHE_HIT: 'success',
};

/** Our status as ROMA's: `cancelled` becomes `FAILURE` (ROMA has no cancelled). */
export function toRomaStatus(status: BundleStatus): RomaExecutionStatus {
  return STATUS_TO_ROMA[status];
}

/** ROMA's status as ours: `CACHE_HIT` becomes `success` (ROMA's `success` property says so). */
export function fromRomaStatus(status: RomaExecutionStatus): BundleStatus {
  return STATUS_FROM_ROMA[status];
}

const KIND_TO_ROMA: Readonly<Record<FileKind, RomaArtifactType>> = {
  source: 'source_code',
  test: 'test',
  config: 'config',
  documentation: 'documentation',
  data: 'data',
};

export function toRomaArtifactType(kind: FileKind): RomaArtifactType {
  return KIND_TO_ROMA[kind];
}

export function fromRomaArtifactType(type: RomaArtifactType): FileKind {
  return type === 'source_code' ? 'source' : type;
}

// ---------------------------------------------------------------------------------------------
// ROMA's cache key

/**
 * The key ROMA's `PTCCacheManager` stores a plan's result under (`ptc:exec:{key}`):
 * `sha256(json.dumps(obj, sort_keys=True))[:16]` over the stripped, lowercased task, the sorted
 * stripped lowercased requirements and dependencies, the architecture, both LLM settings and
 * `enable_testing`. The calculator plan of ROMA's integration script gives `dbe4ca9729830fba`.
 */
export function romaCacheKey(plan: RomaExecutionPlan): string {
  const normalise = (text: string) => pythonStrip(text).toLowerCase();
  const spec = plan.scaffolding;
  const subject = {
    task_description: normalise(spec.task_description),
    requirements: spec.requirements.map(normalise).sort(comparePythonStrings),
    dependencies: spec.dependencies.map(normalise).sort(comparePythonStrings),
    architecture: spec.architecture,
    primary_llm: plan.primary_llm,
    fallback_llm: plan.fallback_llm,
    enable_testing: plan.enable_testing,
  };
  return createHash('sha256').update(pythonJsonDumps(subject), 'utf8').digest('hex').slice(0, 16);
}

// ---------------------------------------------------------------------------------------------
// Plan in

export interface FromRomaPlanOptions {
  /** ROMA plans carry no language; ROMA's service writes Python tested with pytest. @default 'python' */
  language?: Language;
  /** Key under which ROMA's fields without a counterpart are kept in `plan.metadata`. @default 'roma' */
  metadataKey?: string;
}

/** ROMA's fields without a counterpart in our plan, kept in `plan.metadata[metadataKey]`. */
export interface RomaPlanExtras {
  executionId: string;
  primaryLlm: string;
  fallbackLlm: string | null;
  projectName: string | null;
  romaTaskId: string | null;
  createdAt: string;
  /** ROMA's `cache_ttl` as sent (`null` and `0` both mean 3600 s to ROMA). */
  cacheTtlSeconds: number | null;
  /** `romaCacheKey(plan)`: where ROMA's own cache keeps this plan's result. */
  cacheKey: string;
}

/** ROMA's fallback TTL: its cache manager writes `ttl or plan.cache_ttl or 3600`, so 0 and null mean one hour. */
const ROMA_DEFAULT_TTL_SECONDS = 3_600;
/** Our plan's upper bound of `cacheTtlMs` (one year). */
const MAX_CACHE_TTL_MS = 365 * 24 * 3_600_000;
const EXECUTION_ID_PATTERN = /^[\x20-\x7e]{1,200}$/;

/**
 * Turns a ROMA `PTCExecutionPlan` (already parsed, or any JSON value from the network) into a
 * validated `Plan`.
 *
 * - `timeout_seconds` → `timeoutMs`; `cache_ttl` seconds → `cacheTtlMs`, with ROMA's rule that
 *   `0` and `null` mean 3600 s (our `0` would mean "never expires").
 * - `primary_llm`, `fallback_llm`, `project_name`, `roma_task_id` and `created_at` have no
 *   counterpart (the agent has one generator): they go to `metadata.roma` with ROMA's cache key.
 * - Blank requirements are dropped (ROMA allows them, they tell a model nothing).
 * - Dependencies are ROMA's free text made package specs (`normaliseRomaDependencies`):
 *   `numpy >= 1.26` → `numpy>=1.26`, markers dropped, descriptive entries left out (the warnings
 *   reach the result through `toRomaResult`); shell characters and `-e .` are refused.
 * - The execution id is kept when it fits ours (printable ASCII, at most 200 characters);
 *   otherwise it becomes `roma-<sha256 prefix>` and the original stays in `metadata.roma`.
 *
 * @throws RomaPlanValidationError (a `PlanValidationError`) with ROMA field paths and a
 *   FastAPI-style `detail`, both for ROMA's own rules and for our stricter ones (dependencies
 *   must look like package specs, sizes are capped).
 */
export function fromRomaPlan(input: RomaExecutionPlan | unknown, options: FromRomaPlanOptions = {}): Plan {
  const roma = parseRomaPlan(input);
  const language = options.language ?? 'python';
  const metadataKey = options.metadataKey ?? 'roma';
  if (typeof metadataKey !== 'string' || metadataKey.length === 0) throw new TypeError('metadataKey must be a non-empty string');
  const spec = roma.scaffolding;

  const requirementIndex: number[] = [];
  const requirements: string[] = [];
  spec.requirements.forEach((requirement, index) => {
    if (requirement.trim() === '') return;
    requirementIndex.push(index);
    requirements.push(requirement);
  });
  const normalised = normaliseRomaDependencies(spec.dependencies);
  // Where each normalised dependency came from, to report the plan's errors on ROMA's indices.
  const dependencyIndex = spec.dependencies.flatMap((entry, index) => {
    const alone = normaliseRomaDependencies([entry]);
    return alone.dependencies.length > 0 ? [index] : [];
  });
  const executionId = EXECUTION_ID_PATTERN.test(roma.execution_id)
    ? roma.execution_id
    : `roma-${createHash('sha256').update(roma.execution_id, 'utf8').digest('hex').slice(0, 24)}`;
  const ttlSeconds = roma.cache_ttl === null || roma.cache_ttl === 0 ? ROMA_DEFAULT_TTL_SECONDS : roma.cache_ttl;
  const extras: RomaPlanExtras = {
    executionId: roma.execution_id,
    primaryLlm: roma.primary_llm,
    fallbackLlm: roma.fallback_llm,
    projectName: roma.project_name,
    romaTaskId: roma.roma_task_id,
    createdAt: roma.created_at,
    cacheTtlSeconds: roma.cache_ttl,
    cacheKey: romaCacheKey(roma),
  };

  const candidate = {
    executionId,
    taskDescription: spec.task_description,
    requirements,
    dependencies: normalised.dependencies,
    language,
    ...(spec.architecture !== null ? { architecture: spec.architecture } : {}),
    ...(spec.context !== null ? { context: spec.context } : {}),
    ...(spec.file_structure !== null ? { fileStructure: spec.file_structure } : {}),
    maxIterations: roma.max_iterations,
    timeoutMs: roma.timeout_seconds * 1_000,
    enableTesting: roma.enable_testing,
    cacheStrategy: roma.cache_strategy,
    cacheTtlMs: Math.min(ttlSeconds * 1_000, MAX_CACHE_TTL_MS),
    metadata: { ...roma.metadata, [metadataKey]: extras },
  };
  const refused: RomaErrorDetail[] = normalised.refused.map(({ index, message }) => ({
    type: 'value_error',
    loc: ['body', 'scaffolding', 'dependencies', index],
    msg: `Value error, ${message}`,
  }));
  let plan: Plan;
  try {
    plan = parsePlan(candidate);
  } catch (error) {
    if (!(error instanceof PlanValidationError)) throw error;
    throw new RomaPlanValidationError([...error.issues.map((issue) => toRomaDetail(issue, requirementIndex, dependencyIndex)), ...refused]);
  }
  if (refused.length > 0) throw new RomaPlanValidationError(refused);
  return plan;
}

/** Where our plan's fields come from in ROMA's plan. */
const ROMA_LOCATIONS: Readonly<Record<string, Array<string | number>>> = {
  executionId: ['execution_id'],
  taskDescription: ['scaffolding', 'task_description'],
  requirements: ['scaffolding', 'requirements'],
  dependencies: ['scaffolding', 'dependencies'],
  architecture: ['scaffolding', 'architecture'],
  context: ['scaffolding', 'context'],
  fileStructure: ['scaffolding', 'file_structure'],
  maxIterations: ['max_iterations'],
  timeoutMs: ['timeout_seconds'],
  enableTesting: ['enable_testing'],
  cacheStrategy: ['cache_strategy'],
  cacheTtlMs: ['cache_ttl'],
  metadata: ['metadata'],
};

/** Where our plan's fields come from in the body of `POST /generate`. */
const GENERATE_LOCATIONS: Readonly<Record<string, Array<string | number>>> = {
  taskDescription: ['task_description'],
  requirements: ['requirements'],
  language: ['language'],
};

function toRomaDetail(
  issue: PlanIssue,
  requirementIndex: readonly number[],
  dependencyIndex: readonly number[],
  locations: Readonly<Record<string, Array<string | number>>> = ROMA_LOCATIONS,
): RomaErrorDetail {
  const [head = '', ...rest] = issue.path === '' ? [] : issue.path.split('.');
  const location = [...(locations[head] ?? (head ? [head] : []))];
  const tail: Array<string | number> = rest.map((part) => (/^\d+$/.test(part) ? Number(part) : part));
  // Blank requirements were dropped: point at the item as ROMA numbered it.
  if (head === 'requirements' && typeof tail[0] === 'number') tail[0] = requirementIndex[tail[0]] ?? tail[0];
  // Blank and descriptive dependencies were left out: the same.
  if (head === 'dependencies' && typeof tail[0] === 'number') tail[0] = dependencyIndex[tail[0]] ?? tail[0];
  return { type: 'value_error', loc: ['body', ...location, ...tail], msg: `Value error, ${issue.message}` };
}

/** The ROMA fields `fromRomaPlan` kept in a plan's metadata, if any. */
export function romaExtrasOf(plan: Plan, metadataKey = 'roma'): RomaPlanExtras | undefined {
  const value = plan.metadata[metadataKey];
  if (typeof value !== 'object' || value === null || typeof (value as RomaPlanExtras).cacheKey !== 'string') return undefined;
  return value as RomaPlanExtras;
}

// ---------------------------------------------------------------------------------------------
// Result out

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

// ---------------------------------------------------------------------------------------------
// ROMA's executor: POST /generate

export interface FromRomaGenerateRequestOptions {
  /** Our execution id for the run (the request carries none). @default a UUID */
  executionId?: string;
  /** @default 3 (ROMA's default `max_iterations`) */
  maxIterations?: number;
  /** @default 300000 (ROMA's executor client waits 300 s) */
  timeoutMs?: number;
}

/** Languages `/generate` accepts, by what a caller may write (case-insensitive). */
const GENERATE_LANGUAGES: Readonly<Record<string, Language>> = {
  python: 'python',
  py: 'python',
  python3: 'python',
  javascript: 'javascript',
  js: 'javascript',
  node: 'javascript',
  typescript: 'typescript',
  ts: 'typescript',
};

/**
 * The body ROMA's `PTCExecutor` sends (`{task_description, requirements, language}`) as a plan:
 * the full loop, tests included, with ROMA's defaults (3 iterations, the `smart` cache).
 * @throws RomaPlanValidationError (422 material) for a bad body or a language we cannot test.
 */
export function fromRomaGenerateRequest(input: RomaGenerateRequest | unknown, options: FromRomaGenerateRequestOptions = {}): Plan {
  const request = parseRomaGenerateRequest(input);
  const language = GENERATE_LANGUAGES[request.language.trim().toLowerCase()];
  if (!language) {
    throw new RomaPlanValidationError([
      { type: 'value_error', loc: ['body', 'language'], msg: `Value error, language must be one of python, javascript, typescript (got ${JSON.stringify(request.language.slice(0, 40))})` },
    ]);
  }
  const requirementIndex: number[] = [];
  const requirements: string[] = [];
  request.requirements.forEach((requirement, index) => {
    if (requirement.trim() === '') return;
    requirementIndex.push(index);
    requirements.push(requirement);
  });
  try {
    return parsePlan({
      ...(options.executionId !== undefined ? { executionId: options.executionId } : {}),
      taskDescription: request.task_description,
      requirements,
      language,
      maxIterations: options.maxIterations ?? 3,
      timeoutMs: options.timeoutMs ?? 300_000,
      enableTesting: true,
      cacheStrategy: 'smart',
      metadata: { roma: { endpoint: 'generate' } },
    });
  } catch (error) {
    if (!(error instanceof PlanValidationError)) throw error;
    throw new RomaPlanValidationError(error.issues.map((issue) => toRomaDetail(issue, requirementIndex, [], GENERATE_LOCATIONS)));
  }
}

const COMMENT_PREFIX: Readonly<Record<string, string>> = { javascript: '//', typescript: '//' };
/** Sources first, then config/data/documentation, tests last: the order a reader wants. */
const KIND_ORDER: Readonly<Record<FileKind, number>> = { source: 0, config: 1, data: 2, documentation: 3, test: 4 };

/**
 * The bundle's files as one string: each file under a `# File: <path>` header (`// File:` for
 * JavaScript and TypeScript plans), sources first and tests last, separated by a blank line.
 * ROMA's executor puts `code` in one fenced block; the headers keep every path, and are the
 * form ROMA's own PTC service parses back into files.
 */
export function renderRomaCode(files: readonly Pick<BundleFile, 'path' | 'content' | 'kind'>[], language: string): string {
  const prefix = COMMENT_PREFIX[language] ?? '#';
  return files
    .map((file, index) => ({ file, index }))
    .sort((a, b) => KIND_ORDER[a.file.kind] - KIND_ORDER[b.file.kind] || a.index - b.index)
    .map(({ file }) => `${prefix} File: ${file.path}\n${file.content}${file.content.endsWith('\n') || file.content === '' ? '' : '\n'}`)
    .join('\n');
}

/**
 * A bundle as `/generate`'s answer, and the HTTP status to send it with. Only green code is a
 * 200: anything else (tests still red, generation failed, timeout) is a 5xx, which ROMA's
 * executor treats like an unreachable service (it falls back to its own LLM) instead of
 * presenting untested code as generated code. The body is complete either way.
 *
 * `tokens_used` and `cost_usd` are what this request spent: 0 for a cache hit.
 */
export function toRomaGenerateResponse(bundle: ArtifactBundle): { httpStatus: 200 | 502 | 503 | 504; body: RomaGenerateResponse & { detail?: string } } {
  const spent = !bundle.fromCache;
  const usage = bundle.usage;
  const tokens = usage.inputTokens + usage.outputTokens + usage.cacheCreationInputTokens + usage.cacheReadInputTokens;
  const report = bundle.testReport;
  const failed = report ? report.failed + report.errored : 0;
  let errorMessage = bundle.error?.message ?? null;
  if (bundle.status === 'partial_success') errorMessage ??= `tests still failing after ${bundle.iterations.length} iteration(s)`;
  const body: RomaGenerateResponse & { detail?: string } = {
    code: renderRomaCode(bundle.files, bundle.language),
    language: bundle.language,
    provider: romaProviderOf(bundle.generator).provider,
    tokens_used: spent ? tokens : 0,
    cost_usd: spent ? (usage.costUsd ?? 0) : 0,
    cost_known: !spent || usage.costUsd !== null,
    execution_id: bundle.executionId,
    status: toRomaStatus(bundle.status),
    tests_passed: report?.passed ?? 0,
    tests_failed: failed,
    iterations_used: bundle.iterations.length,
    from_cache: bundle.fromCache,
    files: bundle.files.map((file) => ({ path: file.path, content: file.content, artifact_type: toRomaArtifactType(file.kind) })),
    warnings: [...bundle.warnings],
    error_message: errorMessage,
  };
  if (bundle.status === 'success') return { httpStatus: 200, body };
  const detail = `${bundle.status}: ${errorMessage ?? bundle.stopReason}`;
  const httpStatus = bundle.status === 'timeout' ? 504 : bundle.status === 'cancelled' ? 503 : 502;
  return { httpStatus, body: { ...body, detail } };
}
