import { canonicalJson } from './internal/canonical-json.js';
import { sha256 } from './internal/files.js';
import type { Plan } from './plan.js';

/**
 * Bumped whenever the stored bundle's shape or meaning changes; old entries then miss. 2: green
 * means the acceptance tests also passed on their own, in an invocation the model cannot configure.
 */
export const CACHE_FORMAT_VERSION = 2;

export interface CacheKeyParts {
  /** `CodeGenerator.id`: another model writes other code. */
  generatorId: string;
  /** `TestPreset.id`: the same code passes or fails differently under another framework. */
  testPresetId: string;
}

/** Prose: runs of whitespace do not change what is asked. */
const collapse = (text: string) => text.trim().replace(/\s+/g, ' ');
/** Text that may hold code: only line endings and surrounding blank space are normalised. */
const normalizeLines = (text: string) => text.replace(/\r\n?/g, '\n').trim();
const sortedUnique = (items: readonly string[]) => [...new Set(items.map(collapse))].sort();

/**
 * The part of a plan that decides what code comes out. Order of requirements and dependencies
 * and runs of whitespace in prose (the task, requirements) do not matter; `context` and
 * `architecture` may hold code, so their indentation does; the execution id, budgets, timeouts, the iteration limit,
 * cache settings and metadata do not belong to it; `candidates` does (above 1).
 */
export function canonicalPlan(plan: Plan): Record<string, unknown> {
  return {
    taskDescription: collapse(plan.taskDescription),
    requirements: sortedUnique(plan.requirements),
    dependencies: sortedUnique(plan.dependencies),
    language: plan.language,
    architecture: plan.architecture,
    context: plan.context === undefined ? undefined : normalizeLines(plan.context),
    fileStructure: plan.fileStructure,
    acceptanceTests: [...plan.acceptanceTests]
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      .map((file) => ({ path: file.path, content: file.content })),
    enableTesting: plan.enableTesting,
    // Several first attempts keep a different one than a single attempt would. Absent at 1 (the
    // canonical JSON drops undefined), so plans without candidates keep their keys.
    candidates: plan.candidates > 1 ? plan.candidates : undefined,
  };
}

/** `ptc:v<format>:<sha256 of the canonical plan, generator and preset>`. */
export function cacheKey(plan: Plan, parts: CacheKeyParts): string {
  const digest = sha256(
    canonicalJson({
      format: CACHE_FORMAT_VERSION,
      generator: parts.generatorId,
      testPreset: parts.testPresetId,
      plan: canonicalPlan(plan),
    }),
  );
  return `ptc:v${CACHE_FORMAT_VERSION}:${digest}`;
}
