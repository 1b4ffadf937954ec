import { createHash } from 'node:crypto';
import { comparePythonStrings, pythonJsonDumps, pythonStrip } from './python-json.js';
import type { RomaExecutionPlan } from './schemas.js';

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
