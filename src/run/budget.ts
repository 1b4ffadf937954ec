import { totalTokens } from '../usage.js';
import type { RunContext } from './context.js';
import type { Outcome, RunRecord } from './result.js';

/**
 * Stops the run once a budget is used up, or can no longer be checked (a cost limit with an
 * unknown cost). `quiet` only asks (no warning): whether to start another candidate.
 */
export function budgetStop(context: RunContext, record: RunRecord, quiet = false): Outcome | undefined {
  const { maxTokens, maxCostUsd } = context.plan.budget;
  const tokens = totalTokens(record.usage);
  if (maxTokens !== undefined && tokens >= maxTokens) {
    return { stopReason: 'token_budget', error: { code: 'BUDGET_EXHAUSTED', message: `the token budget of ${maxTokens} was used up (${tokens} tokens)` } };
  }
  if (maxCostUsd !== undefined && record.usage.costUsd === null) {
    const message = `the cost budget of ${maxCostUsd} USD cannot be enforced: the generator does not know its cost; the run stopped rather than spend blind (set budget.maxTokens instead)`;
    if (!quiet) context.warn('COST_UNKNOWN', message);
    return { stopReason: 'cost_budget', error: { code: 'BUDGET_EXHAUSTED', message } };
  }
  if (maxCostUsd !== undefined && record.usage.costUsd !== null && record.usage.costUsd >= maxCostUsd) {
    return { stopReason: 'cost_budget', error: { code: 'BUDGET_EXHAUSTED', message: `the cost budget of ${maxCostUsd} USD was used up (${record.usage.costUsd} USD)` } };
  }
  return undefined;
}

