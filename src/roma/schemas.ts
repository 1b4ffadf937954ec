/**
 * ROMA's `roma_dspy.ptc` wire types (pydantic v2 models) as zod schemas, with pydantic's
 * semantics where they show on the wire: unknown fields ignored, enums by exact value, lax
 * coercion of ints, floats and bools (`"5"` → 5, `30.0` → 30, `"yes"` → true, `30.5` rejected),
 * `null` only where the field is Optional, defaults filled in, and datetimes re-emitted as
 * pydantic's `model_dump(mode="json")` prints them (naive: no `Z`, microseconds dropped when 0).
 * Issues carry pydantic's error type (`missing`, `int_parsing`, `enum`, …) and message, so a
 * server can answer FastAPI's 422 body. Field names stay snake_case: these are wire types. The
 * field converters behind those semantics are in pydantic-fields.ts; this module holds the types
 * and the models.
 */
import { z } from 'zod';
import { PlanValidationError } from '../errors.js';
import {
  type Converted,
  datetime,
  dictionary,
  field,
  flag,
  float,
  formatNaiveUtc,
  identifier,
  integer,
  oneOf,
  stringValue,
  text,
  textDictionary,
  textList,
  withRules,
} from './pydantic-fields.js';

export const ROMA_LLM_PROVIDERS = ['claude', 'kimi', 'openai'] as const;
export type RomaLLMProvider = (typeof ROMA_LLM_PROVIDERS)[number];
export const ROMA_CACHE_STRATEGIES = ['always', 'never', 'smart'] as const;
export type RomaCacheStrategy = (typeof ROMA_CACHE_STRATEGIES)[number];
/** UPPERCASE since ROMA's Phase 3; lowercase values are rejected. */
export const ROMA_EXECUTION_STATUSES = ['SUCCESS', 'PARTIAL_SUCCESS', 'FAILURE', 'TIMEOUT', 'CACHE_HIT'] as const;
export type RomaExecutionStatus = (typeof ROMA_EXECUTION_STATUSES)[number];
export const ROMA_ARTIFACT_TYPES = ['source_code', 'config', 'documentation', 'test', 'data'] as const;
export type RomaArtifactType = (typeof ROMA_ARTIFACT_TYPES)[number];

// ---------------------------------------------------------------------------------------------
// Output types (what parsing yields and what `model_dump(mode="json")` prints)

export interface RomaScaffoldingSpec {
  task_description: string;
  requirements: string[];
  architecture: Record<string, unknown> | null;
  dependencies: string[];
  file_structure: Record<string, string> | null;
  context: string | null;
}

export interface RomaExecutionPlan {
  execution_id: string;
  scaffolding: RomaScaffoldingSpec;
  primary_llm: RomaLLMProvider;
  fallback_llm: RomaLLMProvider | null;
  max_iterations: number;
  timeout_seconds: number;
  enable_testing: boolean;
  cache_strategy: RomaCacheStrategy;
  cache_ttl: number | null;
  project_name: string | null;
  roma_task_id: string | null;
  /** Naive ISO 8601 (`2025-12-07T00:39:28.512345`), or with `Z`/offset when the input had one. */
  created_at: string;
  metadata: Record<string, unknown>;
}

export interface RomaCodeArtifact {
  /** Leading `/` stripped; nothing else normalised (ROMA keeps `../x`). */
  file_path: string;
  content: string;
  artifact_type: RomaArtifactType;
  language: string | null;
  description: string | null;
}

export interface RomaTestResult {
  test_command: string;
  exit_code: number;
  stdout: string;
  stderr: string;
  tests_passed: number;
  tests_failed: number;
  duration_seconds: number;
}

export interface RomaLLMUsage {
  /** Free text on the wire; ROMA itself uses its provider names (`claude`, `kimi`, `openai`). */
  provider: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  api_calls: number;
  cost_usd: number | null;
}

export interface RomaArtifactResult {
  execution_id: string;
  status: RomaExecutionStatus;
  artifacts: RomaCodeArtifact[];
  test_results: RomaTestResult | null;
  iterations_used: number;
  error_message: string | null;
  warnings: string[];
  llm_usage: RomaLLMUsage[];
  started_at: string;
  completed_at: string;
  duration_seconds: number;
  from_cache: boolean;
  cache_key: string | null;
  metadata: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Input types (what a TypeScript caller writes; the schemas accept pydantic's lax forms too)

export interface RomaScaffoldingSpecInput {
  task_description: string;
  requirements?: string[];
  architecture?: Record<string, unknown> | null;
  dependencies?: string[];
  file_structure?: Record<string, string> | null;
  context?: string | null;
}

export interface RomaExecutionPlanInput {
  execution_id: string;
  scaffolding: RomaScaffoldingSpecInput;
  primary_llm?: RomaLLMProvider;
  fallback_llm?: RomaLLMProvider | null;
  max_iterations?: number;
  timeout_seconds?: number;
  enable_testing?: boolean;
  cache_strategy?: RomaCacheStrategy;
  cache_ttl?: number | null;
  project_name?: string | null;
  roma_task_id?: string | null;
  created_at?: string | number;
  metadata?: Record<string, unknown>;
}

export interface RomaCodeArtifactInput {
  file_path: string;
  content: string;
  artifact_type?: RomaArtifactType;
  language?: string | null;
  description?: string | null;
}

export interface RomaTestResultInput {
  test_command: string;
  exit_code: number;
  stdout?: string;
  stderr?: string;
  tests_passed?: number;
  tests_failed?: number;
  duration_seconds: number;
}

export interface RomaLLMUsageInput {
  provider: string;
  model: string;
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  api_calls?: number;
  cost_usd?: number | null;
}

export interface RomaArtifactResultInput {
  execution_id: string;
  status: RomaExecutionStatus;
  artifacts?: RomaCodeArtifactInput[];
  test_results?: RomaTestResultInput | null;
  iterations_used?: number;
  error_message?: string | null;
  warnings?: string[];
  llm_usage?: RomaLLMUsageInput[];
  started_at: string | number;
  completed_at: string | number;
  duration_seconds: number;
  from_cache?: boolean;
  cache_key?: string | null;
  metadata?: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// The models

const modelError = (name: string) => ({
  error: (issue: { input?: unknown }) =>
    issue.input === undefined ? 'Field required' : `Input should be a valid dictionary or instance of ${name}`,
});
const listError = { error: (issue: { input?: unknown }) => (issue.input === undefined ? 'Field required' : 'Input should be a valid list') };

export const RomaScaffoldingSpecSchema = z.object(
  {
    task_description: text(),
    requirements: textList(),
    architecture: dictionary({ nullable: true, fallback: () => null }),
    dependencies: textList(),
    file_structure: textDictionary(),
    context: text({ nullable: true, fallback: () => null }),
  },
  modelError('ScaffoldingSpec'),
);

const planObject = z.object(
  {
    execution_id: identifier('execution_id'),
    scaffolding: RomaScaffoldingSpecSchema,
    primary_llm: oneOf(ROMA_LLM_PROVIDERS, { fallback: () => 'claude' }),
    fallback_llm: oneOf(ROMA_LLM_PROVIDERS, { nullable: true, fallback: () => 'kimi' }),
    max_iterations: integer({ fallback: () => 3, minimum: 1, maximum: 10 }),
    timeout_seconds: integer({ fallback: () => 300, minimum: 30, maximum: 3600 }),
    enable_testing: flag(true),
    cache_strategy: oneOf(ROMA_CACHE_STRATEGIES, { fallback: () => 'smart' }),
    cache_ttl: integer({ nullable: true, fallback: () => 3600, minimum: 0 }),
    project_name: text({ nullable: true, fallback: () => null }),
    roma_task_id: text({ nullable: true, fallback: () => null }),
    created_at: datetime({ fallback: () => formatNaiveUtc(new Date()) }),
    metadata: dictionary({ fallback: () => ({}) }),
  },
  modelError('PTCExecutionPlan'),
);

/**
 * `PTCExecutionPlan`, the body of `POST /execute`. Parsing fills every default, so the output
 * is what ROMA's client sends (`plan.model_dump(mode="json")`).
 */
export const RomaExecutionPlanSchema = planObject.transform((plan, context): RomaExecutionPlan => {
  // ROMA's model validator runs after the fields validated, with an empty location.
  if (plan.scaffolding.task_description.trim() === '') {
    context.addIssue({
      code: 'custom',
      message: 'Value error, scaffolding.task_description cannot be empty',
      path: [],
      params: { type: 'value_error' },
    });
    return z.NEVER;
  }
  return plan;
}) as unknown as z.ZodType<RomaExecutionPlan, RomaExecutionPlanInput>;

export const RomaCodeArtifactSchema = z.object(
  {
    file_path: field((input) =>
      withRules({}, input, (value): Converted<string> => {
        const result = stringValue(value);
        if (!('value' in result)) return result;
        if (result.value.trim() === '') return { issues: [{ type: 'value_error', message: 'Value error, file_path cannot be empty' }] };
        // ROMA's only normalisation: `lstrip('/')`.
        return { value: result.value.replace(/^\/+/, '') };
      }) as Converted<string>,
    ),
    content: text(),
    artifact_type: oneOf(ROMA_ARTIFACT_TYPES, { fallback: () => 'source_code' }),
    language: text({ nullable: true, fallback: () => null }),
    description: text({ nullable: true, fallback: () => null }),
  },
  modelError('CodeArtifact'),
) as unknown as z.ZodType<RomaCodeArtifact, RomaCodeArtifactInput>;

export const RomaTestResultSchema = z.object(
  {
    test_command: text(),
    exit_code: integer(),
    stdout: text({ fallback: () => '' }),
    stderr: text({ fallback: () => '' }),
    tests_passed: integer({ fallback: () => 0, minimum: 0 }),
    tests_failed: integer({ fallback: () => 0, minimum: 0 }),
    duration_seconds: float({ minimum: 0 }),
  },
  modelError('TestResult'),
) as unknown as z.ZodType<RomaTestResult, RomaTestResultInput>;

export const RomaLLMUsageSchema = z.object(
  {
    provider: text(),
    model: text(),
    prompt_tokens: integer({ fallback: () => 0, minimum: 0 }),
    completion_tokens: integer({ fallback: () => 0, minimum: 0 }),
    total_tokens: integer({ fallback: () => 0, minimum: 0 }),
    api_calls: integer({ fallback: () => 1, minimum: 0 }),
    cost_usd: float({ nullable: true, fallback: () => null, minimum: 0 }),
  },
  modelError('LLMUsage'),
) as unknown as z.ZodType<RomaLLMUsage, RomaLLMUsageInput>;

/** `PTCArtifactResult`, the body `POST /execute` answers with. */
export const RomaArtifactResultSchema = z.object(
  {
    execution_id: identifier('execution_id'),
    status: oneOf(ROMA_EXECUTION_STATUSES),
    artifacts: z.array(RomaCodeArtifactSchema, listError).default([]),
    test_results: RomaTestResultSchema.nullable().default(null),
    iterations_used: integer({ fallback: () => 1, minimum: 0 }),
    error_message: text({ nullable: true, fallback: () => null }),
    warnings: textList(),
    llm_usage: z.array(RomaLLMUsageSchema, listError).default([]),
    started_at: datetime(),
    completed_at: datetime(),
    duration_seconds: float({ minimum: 0 }),
    from_cache: flag(false),
    cache_key: text({ nullable: true, fallback: () => null }),
    metadata: dictionary({ fallback: () => ({}) }),
  },
  modelError('PTCArtifactResult'),
) as unknown as z.ZodType<RomaArtifactResult, RomaArtifactResultInput>;

// ---------------------------------------------------------------------------------------------
// ROMA's executor: `roma_dspy.integrations.ptc_client.PTCClient`, used by `PTCExecutor`

/** The body `PTCExecutor` POSTs to `/generate`. */
export interface RomaGenerateRequest {
  task_description: string;
  /** `requirements or []` on ROMA's side: never null there. */
  requirements: string[];
  /** `"python"` unless the task carried another. */
  language: string;
}

export interface RomaGenerateRequestInput {
  task_description: string;
  requirements?: string[];
  language?: string;
}

/**
 * What `/generate` answers. ROMA reads the first five: it formats `cost_usd` with `:.6f` and logs
 * `len(code)`, so both are always a number and a string. The rest is ours, for callers that look.
 */
export interface RomaGenerateResponse {
  code: string;
  language: string;
  provider: string;
  tokens_used: number;
  /** 0 when the generator cannot price its model (`cost_known` says so): ROMA cannot format null. */
  cost_usd: number;
  cost_known: boolean;
  execution_id: string;
  status: RomaExecutionStatus;
  tests_passed: number;
  tests_failed: number;
  iterations_used: number;
  from_cache: boolean;
  files: Array<{ path: string; content: string; artifact_type: RomaArtifactType }>;
  warnings: string[];
  error_message: string | null;
}

export const RomaGenerateRequestSchema = z.object(
  {
    task_description: text(),
    requirements: textList(),
    language: text({ fallback: () => 'python' }),
  },
  modelError('GenerateRequest'),
) as unknown as z.ZodType<RomaGenerateRequest, RomaGenerateRequestInput>;

// ---------------------------------------------------------------------------------------------
// Errors in FastAPI's shape

/** One entry of FastAPI's 422 body `{"detail": [...]}`. */
export interface RomaErrorDetail {
  /** pydantic's error type: `missing`, `int_parsing`, `enum`, `value_error`… */
  type: string;
  /** `["body", ...field path]`, as FastAPI reports a request body. */
  loc: Array<string | number>;
  msg: string;
}

/** FastAPI-style details of a zod error from one of the ROMA schemas. */
export function romaErrorDetails(error: z.ZodError, root: Array<string | number> = ['body']): RomaErrorDetail[] {
  return error.issues.map((issue) => {
    const path = issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part));
    let type = 'value_error';
    if (issue.code === 'custom' && typeof issue.params?.type === 'string') type = issue.params.type;
    else if (issue.message === 'Field required') type = 'missing';
    else if (issue.code === 'invalid_type' && issue.expected === 'array') type = 'list_type';
    else if (issue.code === 'invalid_type' && issue.expected === 'object') type = 'model_type';
    return { type, loc: [...root, ...path], msg: issue.message };
  });
}

/** A ROMA plan failed validation: `detail` is FastAPI's 422 body, `issues` our usual form. */
export class RomaPlanValidationError extends PlanValidationError {
  readonly detail: readonly RomaErrorDetail[];

  constructor(detail: readonly RomaErrorDetail[]) {
    super(detail.map((entry) => ({ path: entry.loc.slice(1).join('.'), message: entry.msg })));
    this.detail = detail;
  }
}

/**
 * Validates a ROMA plan from the network (any JSON value), filling ROMA's defaults.
 * @throws RomaPlanValidationError with FastAPI-style `detail`.
 */
export function parseRomaPlan(input: unknown): RomaExecutionPlan {
  const result = RomaExecutionPlanSchema.safeParse(input, { reportInput: true });
  if (!result.success) throw new RomaPlanValidationError(romaErrorDetails(result.error));
  return result.data;
}

/**
 * Validates the body of `POST /generate` (ROMA's executor client).
 * @throws RomaPlanValidationError with FastAPI-style `detail`.
 */
export function parseRomaGenerateRequest(input: unknown): RomaGenerateRequest {
  const result = RomaGenerateRequestSchema.safeParse(input, { reportInput: true });
  if (!result.success) throw new RomaPlanValidationError(romaErrorDetails(result.error));
  return result.data;
}
