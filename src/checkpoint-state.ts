import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ErrorInfoSchema, FileKindSchema, IterationRecordSchema, STOP_REASONS, SafePathSchema, TestReportSchema } from './bundle.js';
import { canonicalPlan } from './cache-key.js';
import { canonicalJson } from './internal/canonical-json.js';
import { MAX_CANDIDATES, type Plan } from './plan.js';
import { UsageSchema } from './usage.js';

/** Bumped whenever the stored state's shape or meaning changes; other versions are ignored. */
export const CHECKPOINT_VERSION = 1;

const Sha256Schema = z.string().regex(/^[0-9a-f]{64}$/);

/** A file by reference: its content lives once in `contents`, under its hash. */
export const CheckpointFileSchema = z.object({
  path: SafePathSchema,
  sha256: Sha256Schema,
  kind: FileKindSchema,
  language: z.string().max(50).optional(),
  description: z.string().max(2_000).optional(),
});
export type CheckpointFile = z.infer<typeof CheckpointFileSchema>;

/** What the next generation is given (and what its tests are compared with), by reference. */
const AttemptSchema = z.object({ files: z.array(CheckpointFileSchema), report: TestReportSchema.optional() });

/**
 * A run's state after an iteration, as a checkpoint store keeps it: plain JSON, versioned. It is
 * read back as untrusted input (a shared store): the agent validates it with this schema, checks
 * every content against its hash, the plan against `planHash`, and refuses secrets.
 */
export const CheckpointStateSchema = z.object({
  version: z.literal(CHECKPOINT_VERSION),
  executionId: z.string().min(1).max(200),
  /** `checkpointPlanHash(plan)`: a checkpoint of another plan under the same id is foreign. */
  planHash: Sha256Schema,
  generatorId: z.string(),
  testPresetId: z.string(),
  /** ISO 8601, UTC. */
  savedAt: z.string(),
  /** The plan as the run parsed it; parsed again (and hashed) when read. */
  plan: z.unknown(),
  /** The iteration to run next (every one before it is done). */
  nextIteration: z.int().min(1),
  iterations: z.array(IterationRecordSchema),
  /** Every candidate of iteration 1 (a plan with `candidates` above 1); the chosen one is also in `iterations`. */
  candidates: z.array(IterationRecordSchema).max(MAX_CANDIDATES).optional(),
  /** The files of every iteration that produced files. */
  iterationFiles: z.array(z.object({ iteration: z.int().min(1), files: z.array(CheckpointFileSchema) })),
  /** sha256 → content, each content once. */
  contents: z.record(Sha256Schema, z.string()),
  usage: UsageSchema,
  timings: z.object({
    elapsedMs: z.number().min(0),
    queuedMs: z.number().min(0),
    cacheMs: z.number().min(0),
    generationMs: z.number().min(0),
    testMs: z.number().min(0),
  }),
  warnings: z.array(z.string()),
  /** The last usable files and report, given to the next generation to refine. */
  previous: AttemptSchema,
  /** The last tested files and report, which the next iteration's tests are compared with. */
  baseline: AttemptSchema,
  /** Why the last attempt produced no test result, told to the next generation. */
  problem: z.string().optional(),
  lastError: ErrorInfoSchema.optional(),
  /** Set when the run finished and its checkpoint was kept (`checkpointTtlMs`): there is nothing to resume. */
  finished: z.object({ stopReason: z.enum(STOP_REASONS) }).optional(),
});
export type CheckpointState = z.infer<typeof CheckpointStateSchema>;

/** The canonical plan's sha256 (what decides the code, as for the cache key). */
export function checkpointPlanHash(plan: Plan): string {
  return createHash('sha256').update(canonicalJson(canonicalPlan(plan)), 'utf8').digest('hex');
}

/** A checkpoint that passed every check, with its plan parsed again. */
export interface ResumePoint {
  readonly state: CheckpointState;
  readonly plan: Plan;
}
