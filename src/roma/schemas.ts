/**
 * ROMA's `roma_dspy.ptc` wire types (pydantic v2 models) as zod schemas, with pydantic's
 * semantics where they show on the wire: unknown fields ignored, enums by exact value, lax
 * coercion of ints, floats and bools (`"5"` → 5, `30.0` → 30, `"yes"` → true, `30.5` rejected),
 * `null` only where the field is Optional, defaults filled in, and datetimes re-emitted as
 * pydantic's `model_dump(mode="json")` prints them (naive: no `Z`, microseconds dropped when 0).
 * Issues carry pydantic's error type (`missing`, `int_parsing`, `enum`, …) and message, so a
 * server can answer FastAPI's 422 body. Field names stay snake_case: these are wire types.
 */
import { z } from 'zod';
import { PlanValidationError } from '../errors.js';

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
// Lax field converters with pydantic's error types and messages

interface FieldIssue {
  type: string;
  message: string;
  /** Below the field, e.g. the index of a bad list item. */
  path?: Array<string | number>;
}
type Converted<T> = { value: T } | { issues: FieldIssue[] };

const REQUIRED: FieldIssue = { type: 'missing', message: 'Field required' };

/** Absent key: `missing` when required, else the default. */
interface FieldRules<T> {
  /** Value used when the key is absent; without it the field is required. */
  fallback?: () => T | null;
  /** Whether `null` is a value (pydantic `Optional`). */
  nullable?: boolean;
}

/** Wraps a converter as a zod field. `optional()` first: zod 4 would otherwise refuse an absent key before the converter sees it. */
function field<T>(convert: (input: unknown) => Converted<T>) {
  return z
    .unknown()
    .optional()
    .transform((input, context): T => {
      const result = convert(input);
      if ('value' in result) return result.value;
      for (const issue of result.issues) {
        context.addIssue({ code: 'custom', message: issue.message, path: issue.path ?? [], params: { type: issue.type } });
      }
      return z.NEVER;
    });
}

function withRules<T>(rules: FieldRules<T>, input: unknown, convert: (input: unknown) => Converted<T>): Converted<T | null> {
  if (input === undefined) return rules.fallback ? { value: rules.fallback() } : { issues: [REQUIRED] };
  if (input === null && rules.nullable) return { value: null };
  return convert(input);
}

function stringValue(input: unknown): Converted<string> {
  return typeof input === 'string' ? { value: input } : { issues: [{ type: 'string_type', message: 'Input should be a valid string' }] };
}

const INTEGER_TEXT = /^[+-]?\d+(?:_\d+)*(?:\.0*)?$/;

function integerValue(input: unknown): Converted<number> {
  if (typeof input === 'boolean') return { value: input ? 1 : 0 };
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { issues: [{ type: 'finite_number', message: 'Input should be a finite number' }] };
    if (!Number.isInteger(input)) {
      return { issues: [{ type: 'int_from_float', message: 'Input should be a valid integer, got a number with a fractional part' }] };
    }
    return { value: input };
  }
  if (typeof input === 'string') {
    const text = input.trim();
    if (INTEGER_TEXT.test(text)) {
      const value = Number(text.replace(/_/g, '').replace(/\.0*$/, ''));
      if (Number.isSafeInteger(value)) return { value: Object.is(value, -0) ? 0 : value };
    }
    return { issues: [{ type: 'int_parsing', message: 'Input should be a valid integer, unable to parse string as an integer' }] };
  }
  return { issues: [{ type: 'int_type', message: 'Input should be a valid integer' }] };
}

function numberValue(input: unknown): Converted<number> {
  if (typeof input === 'boolean') return { value: input ? 1 : 0 };
  if (typeof input === 'number') return Number.isFinite(input) ? { value: input } : { issues: [{ type: 'finite_number', message: 'Input should be a finite number' }] };
  if (typeof input === 'string') {
    const text = input.trim().replace(/(\d)_(?=\d)/g, '$1');
    const value = text === '' ? Number.NaN : Number(text);
    if (Number.isFinite(value)) return { value };
    return { issues: [{ type: 'float_parsing', message: 'Input should be a valid number, unable to parse string as a number' }] };
  }
  return { issues: [{ type: 'float_type', message: 'Input should be a valid number' }] };
}

const TRUE_TEXT = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_TEXT = new Set(['0', 'off', 'f', 'false', 'n', 'no']);

function booleanValue(input: unknown): Converted<boolean> {
  if (typeof input === 'boolean') return { value: input };
  if (input === 0 || input === 1) return { value: input === 1 };
  if (typeof input === 'string') {
    const text = input.toLowerCase();
    if (TRUE_TEXT.has(text)) return { value: true };
    if (FALSE_TEXT.has(text)) return { value: false };
  }
  if (typeof input === 'string' || typeof input === 'number') {
    return { issues: [{ type: 'bool_parsing', message: 'Input should be a valid boolean, unable to interpret input' }] };
  }
  return { issues: [{ type: 'bool_type', message: 'Input should be a valid boolean' }] };
}

function bounded(result: Converted<number>, minimum: number | undefined, maximum: number | undefined): Converted<number> {
  if (!('value' in result)) return result;
  if (minimum !== undefined && result.value < minimum) {
    return { issues: [{ type: 'greater_than_equal', message: `Input should be greater than or equal to ${minimum}` }] };
  }
  if (maximum !== undefined && result.value > maximum) {
    return { issues: [{ type: 'less_than_equal', message: `Input should be less than or equal to ${maximum}` }] };
  }
  return result;
}

function quoteList(values: readonly string[]): string {
  const quoted = values.map((value) => `'${value}'`);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

function isPlainObject(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

function text(rules: FieldRules<string> & { nullable: true }): ReturnType<typeof field<string | null>>;
function text(rules?: FieldRules<string>): ReturnType<typeof field<string>>;
function text(rules: FieldRules<string> = {}) {
  return field((input) => withRules(rules, input, stringValue));
}

function integer(rules: FieldRules<number> & { nullable: true; minimum?: number; maximum?: number }): ReturnType<typeof field<number | null>>;
function integer(rules?: FieldRules<number> & { minimum?: number; maximum?: number }): ReturnType<typeof field<number>>;
function integer(rules: FieldRules<number> & { minimum?: number; maximum?: number } = {}) {
  return field((input) => withRules(rules, input, (value) => bounded(integerValue(value), rules.minimum, rules.maximum)));
}

function float(rules: FieldRules<number> & { nullable: true; minimum?: number }): ReturnType<typeof field<number | null>>;
function float(rules?: FieldRules<number> & { minimum?: number }): ReturnType<typeof field<number>>;
function float(rules: FieldRules<number> & { minimum?: number } = {}) {
  return field((input) => withRules(rules, input, (value) => bounded(numberValue(value), rules.minimum, undefined)));
}

function flag(fallback: boolean) {
  return field((input) => withRules({ fallback: () => fallback }, input, booleanValue) as Converted<boolean>);
}

function oneOf<const Values extends readonly string[]>(values: Values, rules: FieldRules<Values[number]> & { nullable: true }): ReturnType<typeof field<Values[number] | null>>;
function oneOf<const Values extends readonly string[]>(values: Values, rules?: FieldRules<Values[number]>): ReturnType<typeof field<Values[number]>>;
function oneOf(values: readonly string[], rules: FieldRules<string> = {}) {
  return field((input) =>
    withRules(rules, input, (value) =>
      typeof value === 'string' && values.includes(value)
        ? { value }
        : { issues: [{ type: 'enum', message: `Input should be ${quoteList(values)}` }] },
    ),
  );
}

function textList() {
  return field((input) =>
    withRules({ fallback: () => [] as string[] }, input, (value): Converted<string[]> => {
      if (!Array.isArray(value)) return { issues: [{ type: 'list_type', message: 'Input should be a valid list' }] };
      const issues: FieldIssue[] = [];
      value.forEach((item, index) => {
        if (typeof item !== 'string') issues.push({ type: 'string_type', message: 'Input should be a valid string', path: [index] });
      });
      return issues.length > 0 ? { issues } : { value: [...(value as string[])] };
    }) as Converted<string[]>,
  );
}

function dictionary(rules: FieldRules<Record<string, unknown>> & { nullable: true }): ReturnType<typeof field<Record<string, unknown> | null>>;
function dictionary(rules?: FieldRules<Record<string, unknown>>): ReturnType<typeof field<Record<string, unknown>>>;
function dictionary(rules: FieldRules<Record<string, unknown>> = {}) {
  return field((input) =>
    withRules(rules, input, (value) => (isPlainObject(value) ? { value: { ...value } } : { issues: [{ type: 'dict_type', message: 'Input should be a valid dictionary' }] })),
  );
}

function textDictionary() {
  return field((input) =>
    withRules({ fallback: () => null, nullable: true }, input, (value): Converted<Record<string, string>> => {
      if (!isPlainObject(value)) return { issues: [{ type: 'dict_type', message: 'Input should be a valid dictionary' }] };
      const issues: FieldIssue[] = [];
      for (const [key, item] of Object.entries(value)) {
        if (typeof item !== 'string') issues.push({ type: 'string_type', message: 'Input should be a valid string', path: [key] });
      }
      return issues.length > 0 ? { issues } : { value: { ...(value as Record<string, string>) } };
    }),
  );
}

/** A non-blank string, stripped (ROMA's `execution_id` validators). */
function identifier(name: string) {
  return field((input) =>
    withRules({}, input, (value): Converted<string> => {
      const result = stringValue(value);
      if (!('value' in result)) return result;
      const stripped = result.value.trim();
      if (stripped === '') return { issues: [{ type: 'value_error', message: `Value error, ${name} cannot be empty` }] };
      return { value: stripped };
    }) as Converted<string>,
  );
}

// ---------------------------------------------------------------------------------------------
// Datetimes, as pydantic parses and prints them

const DATETIME_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?$/;
const NUMERIC_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** pydantic reads a number above this as milliseconds since the epoch, at or below as seconds. */
const MILLISECONDS_THRESHOLD = 2e10;

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/**
 * A UTC instant as Python prints a naive `datetime.utcnow()` in JSON mode:
 * `YYYY-MM-DDTHH:MM:SS.ffffff`, no `Z`, and no fraction at all when the microseconds are 0.
 * JS dates carry milliseconds, so the last three digits are always 0 unless `microseconds` is given.
 */
export function formatNaiveUtc(date: Date, microseconds?: number): string {
  const base = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  const micros = microseconds ?? date.getUTCMilliseconds() * 1_000;
  return micros === 0 ? base : `${base}.${pad(micros, 6)}`;
}

function datetimeValue(input: unknown): Converted<string> {
  const invalid = (detail: string): Converted<string> => ({
    issues: [{ type: 'datetime_parsing', message: `Input should be a valid datetime, ${detail}` }],
  });
  if (typeof input === 'number' || (typeof input === 'string' && NUMERIC_TEXT.test(input.trim()))) {
    const number = Number(input);
    if (!Number.isFinite(number)) return invalid('invalid number');
    const milliseconds = Math.abs(number) > MILLISECONDS_THRESHOLD ? number : number * 1_000;
    const date = new Date(Math.round(milliseconds));
    if (Number.isNaN(date.getTime())) return invalid('value out of range');
    // pydantic makes numbers aware UTC datetimes, printed with `Z`.
    return { value: `${formatNaiveUtc(date)}Z` };
  }
  if (typeof input !== 'string') return { issues: [{ type: 'datetime_type', message: 'Input should be a valid datetime' }] };
  const match = DATETIME_TEXT.exec(input);
  if (!match) return invalid('invalid format');
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zulu, sign, offsetHours, offsetMinutes] = match;
  const parts = [Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second)] as const;
  const check = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5]));
  if (
    check.getUTCFullYear() !== parts[0] ||
    check.getUTCMonth() !== parts[1] - 1 ||
    check.getUTCDate() !== parts[2] ||
    parts[3] > 23 ||
    parts[4] > 59 ||
    parts[5] > 59
  ) {
    return invalid('value out of range');
  }
  // Python keeps microseconds: extra digits are cut, not rounded.
  const micros = Number(fraction.slice(0, 6).padEnd(6, '0'));
  const naive = formatNaiveUtc(check, micros);
  if (zulu) return { value: `${naive}Z` };
  if (sign) {
    if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return invalid('timezone offset out of range');
    return { value: offsetHours === '00' && offsetMinutes === '00' ? `${naive}Z` : `${naive}${sign}${offsetHours}:${offsetMinutes}` };
  }
  return { value: naive };
}

function datetime(rules: FieldRules<string> = {}) {
  return field((input) => withRules(rules, input, datetimeValue) as Converted<string>);
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
