import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { PlanValidationError } from './errors.js';
import { isSafeRelativePath, normalizeRelativePath } from './internal/paths.js';
import { closest } from './internal/validate.js';

export const LANGUAGES = ['python', 'javascript', 'typescript'] as const;
export const LanguageSchema = z.enum(LANGUAGES);
export type Language = z.infer<typeof LanguageSchema>;

export const CACHE_STRATEGIES = ['always', 'never', 'smart'] as const;
export const CacheStrategySchema = z.enum(CACHE_STRATEGIES);
/**
 * - `always`: use any cached bundle, store every bundle that produced code.
 * - `never`: neither read nor write the cache, and do not share in-flight runs.
 * - `smart`: use only successful bundles (with a test report when testing is enabled), store only those.
 */
export type CacheStrategy = z.infer<typeof CacheStrategySchema>;

/**
 * A dependency is handed to pip or npm as one argument, never through a shell. It must look like a
 * package spec (`requests`, `numpy>=1.26`, `@scope/pkg@^2`), and may not start with `-`, so it can
 * never become an option of the installer.
 */
const DEPENDENCY_PATTERN = /^[A-Za-z0-9@_][A-Za-z0-9._\-/@[\],<>=!~^*+:]*$/;

export const DependencySchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(DEPENDENCY_PATTERN, { error: 'must be a package spec such as "requests" or "lodash@^4"' });

/** A file the user supplies (an acceptance test): the model sees it and may never change it. */
export const PlanFileSchema = z.strictObject({
  path: z.string().min(1).max(1024).refine(isSafeRelativePath, {
    error: 'must be a relative path inside the project (no "..", no absolute or drive paths, no control characters)',
  }),
  content: z.string().max(1_000_000),
});
export type PlanFile = z.infer<typeof PlanFileSchema>;

export const BudgetSchema = z
  .strictObject({
    /** Stop once input + output tokens of the run reach this. */
    maxTokens: z.int().positive().optional(),
    /** Stop once the run's known cost in USD reaches this. */
    maxCostUsd: z.number().positive().optional(),
  })
  .default({});

/** Most first attempts a plan may ask for (`candidates`). */
export const MAX_CANDIDATES = 8;

/** Deepest nesting accepted in free-form plan fields (`architecture`, `metadata`). */
export const MAX_PLAN_VALUE_DEPTH = 32;
const MAX_PLAN_VALUE_NODES = 10_000;

/**
 * Why a free-form value is not plain JSON within bounds, or `undefined`. Iterative, so a value
 * nested thousands of levels deep (it may come off the network) is refused, never a stack
 * overflow; and only JSON types pass, so a `Date` or a `Map` cannot serialise to `{}` and share a
 * cache key with an empty object.
 */
export function jsonValueProblem(value: unknown): string | undefined {
  const pending: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  let nodes = 0;
  while (pending.length > 0) {
    const { value: item, depth } = pending.pop()!;
    nodes += 1;
    if (nodes > MAX_PLAN_VALUE_NODES) return `holds more than ${MAX_PLAN_VALUE_NODES} values`;
    if (depth > MAX_PLAN_VALUE_DEPTH) return `is nested deeper than ${MAX_PLAN_VALUE_DEPTH} levels`;
    // `undefined` members are dropped by JSON, as they are by the cache key's canonical JSON.
    if (item === undefined || item === null || typeof item === 'string' || typeof item === 'boolean') continue;
    if (typeof item === 'number') {
      if (!Number.isFinite(item)) return 'holds a number JSON cannot represent';
      continue;
    }
    if (Array.isArray(item)) {
      for (const element of item) pending.push({ value: element, depth: depth + 1 });
      continue;
    }
    if (typeof item === 'object' && (Object.getPrototypeOf(item) === Object.prototype || Object.getPrototypeOf(item) === null)) {
      for (const nested of Object.values(item)) pending.push({ value: nested, depth: depth + 1 });
      continue;
    }
    return `holds a ${item === undefined ? 'undefined' : typeof item === 'object' ? (item.constructor?.name ?? 'non-plain object') : typeof item} value; only JSON values are allowed`;
  }
  return undefined;
}

const JsonRecordSchema = z.record(z.string(), z.unknown()).superRefine((value, context) => {
  const problem = jsonValueProblem(value);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: `must be plain JSON: it ${problem}` });
});

/** Unknown keys are refused (a misspelt `maxIteration` must not fall back to the default). */
export const PlanSchema = z.strictObject({
  /** Generated (a UUID) when missing. Echoed in every event and in the bundle. */
  executionId: z
    .string()
    .trim()
    .min(1)
    .max(200)
    .regex(/^[\x20-\x7e]+$/, { error: 'must be printable ASCII' })
    .optional(),
  taskDescription: z.string().trim().min(1, { error: 'must not be blank' }).max(100_000),
  requirements: z.array(z.string().trim().min(1).max(10_000)).max(200).default([]),
  dependencies: z.array(DependencySchema).max(200).default([]),
  language: LanguageSchema.default('python'),
  architecture: JsonRecordSchema.optional(),
  context: z.string().max(100_000).optional(),
  /** Path → what belongs there, e.g. `{ "src/calc.py": "the calculator" }`. */
  fileStructure: z.record(z.string().max(1024), z.string().max(10_000)).optional(),
  acceptanceTests: z
    .array(PlanFileSchema)
    .max(50)
    .default([])
    .refine((files) => new Set(files.map((file) => (isSafeRelativePath(file.path) ? normalizeRelativePath(file.path) : file.path))).size === files.length, {
      error: 'two acceptance tests have the same path',
    }),
  /** @default 3 */
  maxIterations: z.int().min(1).max(10).default(3),
  /**
   * Independent first attempts: iteration 1 is generated this many times, each tested in its own
   * sandbox, and the best one goes on to the refinement loop alone. Budgets count every candidate;
   * together they are one iteration. @default 1
   */
  candidates: z
    .int({ error: 'must be a whole number of candidates' })
    .min(1, { error: `must be at least 1 (one first attempt, no candidates)` })
    .max(MAX_CANDIDATES, { error: `must be at most ${MAX_CANDIDATES}: every candidate is a paid generation and a sandbox` })
    .default(1),
  /** Wall-clock limit of the run once it leaves the queue. @default 300000 */
  timeoutMs: z.int().min(1).max(3_600_000).optional(),
  /** @default true */
  enableTesting: z.boolean().default(true),
  /** @default 'smart' */
  cacheStrategy: CacheStrategySchema.default('smart'),
  /** Time to live of the cached bundle. `0` = no expiry. @default 3600000 */
  cacheTtlMs: z.int().min(0).max(365 * 24 * 3_600_000).default(3_600_000),
  budget: BudgetSchema,
  metadata: JsonRecordSchema.default({}),
});

/** What callers write: most fields are optional. */
export type PlanInput = z.input<typeof PlanSchema>;
/** A validated plan with every default filled in and an execution id. */
export type Plan = z.output<typeof PlanSchema> & { executionId: string };

/**
 * Validates a plan from any source (it may come straight off the network).
 * @throws PlanValidationError listing every problem with its path.
 */
export function parsePlan(input: unknown): Plan {
  const result = PlanSchema.safeParse(input);
  if (!result.success) {
    throw new PlanValidationError(
      result.error.issues.map((issue) => ({
        path: issue.path.map(String).join('.'),
        message: issue.code === 'unrecognized_keys' ? unknownKeysMessage(issue.keys, issue.path) : issue.message,
      })),
    );
  }
  const plan = result.data;
  return { ...plan, executionId: plan.executionId ?? randomUUID() };
}

function unknownKeysMessage(keys: readonly string[], path: readonly PropertyKey[]): string {
  const known = Object.keys(path.length === 0 ? PlanSchema.shape : path[0] === 'budget' ? BudgetSchema.unwrap().shape : PlanFileSchema.shape);
  return keys
    .map((key) => {
      const suggestion = closest(key, known);
      return `unknown field ${JSON.stringify(key)}${suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`}`;
    })
    .join('; ');
}
