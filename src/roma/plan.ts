/** Plan in: ROMA's `PTCExecutionPlan` as our `Plan`. */
import { createHash } from 'node:crypto';
import { PlanValidationError, type PlanIssue } from '../errors.js';
import { type Language, type Plan, parsePlan } from '../plan.js';
import { romaCacheKey } from './cache-key.js';
import { normaliseRomaDependencies } from './dependencies.js';
import { type RomaErrorDetail, type RomaExecutionPlan, RomaPlanValidationError, parseRomaPlan } from './schemas.js';

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

/**
 * A plan issue as a FastAPI-style detail on ROMA's field paths (`locations` maps our fields to
 * theirs). Shared with the `/generate` codec, which passes its own locations.
 */
export function toRomaDetail(
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
