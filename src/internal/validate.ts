/** setTimeout's limit: a larger delay fires at once (with a TimeoutOverflowWarning), not later. */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * An option that must be a safe integer of at least `minimum`; `undefined` takes the default. The
 * one validator of every count and size option in the tree (`positiveInteger` and
 * `nonNegativeInteger` are its two common cases).
 */
export function integerAtLeast(name: string, value: unknown, fallback: number, minimum: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    const kind = minimum === 1 ? 'a positive integer' : minimum === 0 ? 'a non-negative integer' : `an integer ≥ ${minimum}`;
    throw new TypeError(`${name} must be ${kind}, got ${String(value)}`);
  }
  return value;
}

/** An option that must be a positive safe integer; `undefined` takes the default. */
export function positiveInteger(name: string, value: unknown, fallback: number): number {
  return integerAtLeast(name, value, fallback, 1);
}

/** An option that must be a non-negative safe integer (counts such as retries); `undefined` takes the default. */
export function nonNegativeInteger(name: string, value: unknown, fallback: number): number {
  return integerAtLeast(name, value, fallback, 0);
}

/** An option that must be `true` or `false`; `undefined` takes the default. */
export function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${String(value)}`);
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

/**
 * Refuses option names a component does not know, naming the closest known one: a misspelt
 * option (`maxConcurent`) silently falling back to its default is a bug that costs paid runs.
 * @throws TypeError
 */
export function rejectUnknownKeys(component: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const suggestion = closest(key, known);
    throw new TypeError(`${component}: unknown option ${JSON.stringify(key)}${suggestion === undefined ? '' : ` (did you mean ${JSON.stringify(suggestion)}?)`}`);
  }
}

/** The known name nearest to `name` by edit distance, when it is near enough to be a typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  if (best && best.distance <= Math.max(2, Math.floor(best.name.length / 3))) return best.name;
  // A prefix (`--max` for `--max-iterations`) is a typo too, whatever its distance.
  return known.find((candidate) => name.length >= 2 && candidate.toLowerCase().startsWith(name.toLowerCase()));
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
