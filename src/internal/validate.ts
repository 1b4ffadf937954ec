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

/** A duration in ms that a timer will wait: a positive integer no larger than setTimeout allows. */
export function durationMs(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new TypeError(`${name} must be an integer number of ms between 1 and ${MAX_TIMER_MS}, got ${String(value)}`);
  }
  return value;
}
