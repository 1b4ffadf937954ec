/** setTimeout's limit: a larger delay fires at once (with a TimeoutOverflowWarning), not later. */
export const MAX_TIMER_MS = 2_147_483_647;

/** An option that must be a positive safe integer; `undefined` takes the default. */
export function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** An option that must be a non-negative safe integer (counts such as retries); `undefined` takes the default. */
export function nonNegativeInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

/**
 * A duration in ms that a timer will wait: an integer no larger than setTimeout allows (a larger
 * one fires at once). The one validator of every `…Ms` option in the tree.
 * @param minimumMs 1 for limits (0 would time out at once), 0 for delays and grace periods.
 */
export function durationMs(name: string, value: unknown, fallback: number, minimumMs: 0 | 1 = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < minimumMs || value > MAX_TIMER_MS) {
    throw new TypeError(`${name} must be an integer number of ms between ${minimumMs} and ${MAX_TIMER_MS}, got ${String(value)}`);
  }
  return value;
}
