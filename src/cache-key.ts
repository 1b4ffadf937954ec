import { sortKeys } from './internal/canonical-json.js';
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
 *
 * Its keys are in canonical order at every depth (the literal below is written sorted, the
 * free-form values are sorted by `sortKeys`), so `JSON.stringify` of it is its canonical JSON:
 * the cache key is computed without sorting the whole plan again on every run.
 */
export function canonicalPlan(plan: Plan): Record<string, unknown> {
  return {
    acceptanceTests: [...plan.acceptanceTests]
      .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
      .map((file) => ({ content: file.content, path: file.path })),
    architecture: plan.architecture === undefined ? undefined : sortKeys(plan.architecture),
    // Several first attempts keep a different one than a single attempt would. Absent at 1 (JSON
    // drops undefined), so plans without candidates keep their keys.
    candidates: plan.candidates > 1 ? plan.candidates : undefined,
    context: plan.context === undefined ? undefined : normalizeLines(plan.context),
    dependencies: sortedUnique(plan.dependencies),
    enableTesting: plan.enableTesting,
    fileStructure: plan.fileStructure === undefined ? undefined : sortKeys(plan.fileStructure),
    language: plan.language,
    requirements: sortedUnique(plan.requirements),
    taskDescription: collapse(plan.taskDescription),
  };
}

/** `ptc:v<format>:<sha256 of the canonical plan, generator and preset>`. */
export function cacheKey(plan: Plan, parts: CacheKeyParts): string {
  // Keys in sorted order, as canonicalJson would write them (a test holds the two equal).
  const digest = sha256(
    JSON.stringify({
      format: CACHE_FORMAT_VERSION,
      generator: parts.generatorId,
      plan: canonicalPlan(plan),
      testPreset: parts.testPresetId,
    }),
  );
  return `ptc:v${CACHE_FORMAT_VERSION}:${digest}`;
}
