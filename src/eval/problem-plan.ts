import type { PlanInput } from '../index.js';
import type { EvalProblem } from './suite.js';

/**
 * - `held-out` (default): the suite's test never reaches the model; it is run afterwards against
 *   the final bundle, in a fresh sandbox session.
 * - `acceptance`: the suite's test is given to the model as a read-only acceptance test (and it is
 *   still re-run afterwards in a fresh session, like in held-out mode).
 */
export type EvalMode = 'held-out' | 'acceptance';
export const EVAL_MODES: readonly EvalMode[] = ['held-out', 'acceptance'];

/** Where `plan.metadata` carries the problem's id, so a generator can find its problem. */
export const EVAL_METADATA_KEY = 'ptcEval';

export interface PlanSettings {
  mode: EvalMode;
  /** @default 3 */
  maxIterations?: number;
  timeoutMs?: number;
  maxTokens?: number;
  maxCostUsd?: number;
  /** Makes execution ids unique per eval run. */
  runId?: string;
}

const FENCE_LANGUAGE = { python: 'python', javascript: 'javascript', typescript: 'typescript' } as const;

/**
 * One problem as a plan: the model is told where its code must go and what it must be called,
 * and writes its own tests through the normal loop. Caching is off: an eval measures runs.
 */
export function problemToPlan(problem: EvalProblem, settings: PlanSettings): PlanInput {
  const fence = '`'.repeat(Math.max(3, ...[...problem.prompt.matchAll(/`+/g)].map((match) => match[0].length + 1)));
  const subject = problem.entryPoint ? `\`${problem.entryPoint}\`` : 'the code described below';
  const looksLikeCode = problem.entryPoint !== undefined && problem.prompt.includes(problem.entryPoint) && /\b(def|function|class|const|export)\b/.test(problem.prompt);
  const taskDescription = [
    `Implement ${subject} in \`${problem.solutionPath}\`.`,
    '',
    looksLikeCode
      ? `Complete this code (keep its signature, imports and helper functions in ${problem.solutionPath}):`
      : 'The task:',
    '',
    `${fence}${looksLikeCode ? FENCE_LANGUAGE[problem.language] : ''}`,
    problem.prompt.replace(/\s+$/, ''),
    fence,
  ].join('\n');
  const requirements = [
    `The implementation lives in ${problem.solutionPath}, at exactly that path.`,
    ...(problem.entryPoint ? [`${problem.solutionPath} defines ${problem.entryPoint} at the top level, with exactly the given name and parameters.`] : []),
    'Write your own tests for it, covering the examples and the edge cases the description implies.',
  ];
  const plan: PlanInput = {
    executionId: `eval:${settings.runId ?? 'run'}:${problem.id}`.slice(0, 200),
    taskDescription,
    requirements,
    dependencies: problem.dependencies,
    language: problem.language,
    maxIterations: settings.maxIterations ?? 3,
    cacheStrategy: 'never',
    metadata: { [EVAL_METADATA_KEY]: { problemId: problem.id, mode: settings.mode } },
    budget: {
      ...(settings.maxTokens !== undefined ? { maxTokens: settings.maxTokens } : {}),
      ...(settings.maxCostUsd !== undefined ? { maxCostUsd: settings.maxCostUsd } : {}),
    },
  };
  if (settings.timeoutMs !== undefined) plan.timeoutMs = settings.timeoutMs;
  if (settings.mode === 'acceptance') plan.acceptanceTests = [{ path: problem.testPath, content: problem.test }];
  return plan;
}

/** The problem id a plan made by `problemToPlan` carries, if any. */
export function problemIdOf(metadata: Readonly<Record<string, unknown>>): string | undefined {
  const entry = metadata[EVAL_METADATA_KEY];
  if (entry === null || typeof entry !== 'object') return undefined;
  const id = (entry as { problemId?: unknown }).problemId;
  return typeof id === 'string' ? id : undefined;
}
