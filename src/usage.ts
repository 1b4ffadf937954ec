import { z } from 'zod';

export const UsageSchema = z.object({
  inputTokens: z.int().min(0),
  outputTokens: z.int().min(0),
  cacheCreationInputTokens: z.int().min(0),
  cacheReadInputTokens: z.int().min(0),
  apiCalls: z.int().min(0),
  /** USD; `null` when the generator cannot price its model. */
  costUsd: z.number().min(0).nullable(),
});
export type Usage = z.infer<typeof UsageSchema>;


export function emptyUsage(): Usage {
  return {
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
    apiCalls: 0,
    costUsd: 0,
  };
}

/** Sums usages; the cost stays `null` once any part is unknown. */
export function addUsage(total: Usage, part: Usage): Usage {
  return {
    inputTokens: total.inputTokens + part.inputTokens,
    outputTokens: total.outputTokens + part.outputTokens,
    cacheCreationInputTokens: total.cacheCreationInputTokens + part.cacheCreationInputTokens,
    cacheReadInputTokens: total.cacheReadInputTokens + part.cacheReadInputTokens,
    apiCalls: total.apiCalls + part.apiCalls,
    costUsd: total.costUsd === null || part.costUsd === null ? null : total.costUsd + part.costUsd,
  };
}

export function totalTokens(usage: Usage): number {
  return usage.inputTokens + usage.outputTokens + usage.cacheCreationInputTokens + usage.cacheReadInputTokens;
}

const TOKEN_FIELDS = ['inputTokens', 'outputTokens', 'cacheCreationInputTokens', 'cacheReadInputTokens', 'apiCalls'] as const;

/**
 * Usage as a generator reported it, read field by field: a missing or invalid count is 0 and a
 * missing or invalid cost is unknown (`null`), each named in `problems`. Never dropped whole, so
 * one absent field cannot switch a token budget off.
 */
export function readUsage(value: unknown): { usage: Usage; problems: string[] } {
  const problems: string[] = [];
  const source = value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  if (!value || typeof value !== 'object') problems.push('usage is missing');
  const usage = emptyUsage();
  for (const field of TOKEN_FIELDS) {
    const count = source[field];
    if (typeof count === 'number' && Number.isSafeInteger(count) && count >= 0) usage[field] = count;
    else if (value && typeof value === 'object') problems.push(`${field} is ${count === undefined ? 'missing' : 'not a count'}`);
  }
  const cost = source.costUsd;
  if (typeof cost === 'number' && Number.isFinite(cost) && cost >= 0) usage.costUsd = cost;
  else {
    usage.costUsd = null;
    if (cost !== null && value && typeof value === 'object') problems.push(`costUsd is ${cost === undefined ? 'missing' : 'not a non-negative number'}`);
  }
  return { usage, problems };
}
