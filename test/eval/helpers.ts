import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadSuite, type Suite } from '../../src/eval/index.js';

/** The shared data sets beside the repository, read in place: they are never copied into it. */
export const HUMANEVAL_PATH = fileURLToPath(new URL('../../../shared/data/humaneval/HumanEval.jsonl.gz', import.meta.url));
export const MBPP_GENERIC_PATH = fileURLToPath(new URL('../../../shared/data/mbpp/mbpp-generic.jsonl', import.meta.url));

/**
 * Why a data-set test cannot run, or `undefined`. Absent data skips loudly (the reason is in the
 * test's name); under CI=true it is a failure instead, so CI never passes by running nothing.
 */
export function dataSkipReason(path: string): string | undefined {
  if (existsSync(path)) return undefined;
  const reason = `${path} is absent`;
  if (process.env.CI === 'true') throw new Error(`${reason}, and CI=true: the eval tests need the shared data sets`);
  console.warn(`SKIPPING eval tests: ${reason}`);
  return reason;
}

export const humanEvalSkipReason = dataSkipReason(HUMANEVAL_PATH);
export const skippedSuffix = (reason: string | undefined) => (reason === undefined ? '' : ` (SKIPPED: ${reason})`);

let humanEval: Promise<Suite> | undefined;
export function humanEvalSuite(): Promise<Suite> {
  humanEval ??= loadSuite(HUMANEVAL_PATH);
  return humanEval;
}

/**
 * Environment of the sandboxed test commands in these tests: third-party pytest plugins are not
 * loaded (pytest-benchmark alone adds ~0.7 s to every pytest start on these machines); nothing
 * under test depends on them.
 */
export const FAST_PYTEST_ENV = { PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1' } as const;
