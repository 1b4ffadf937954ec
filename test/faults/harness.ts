import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import {
  type ArtifactBundle,
  ArtifactBundleSchema,
  EVENT_NAMES,
  type PTCAgent,
  type PlanInput,
  type PTCStreamItem,
} from '../../src/index.js';

/**
 * Shared machinery of the fault matrix: a planted secret, a recorder that hears every event, a
 * deadline that turns a hang into a test failure (instead of a vitest timeout), and the
 * "the secret is nowhere" check over events, errors and bundles.
 */

/**
 * A fake API key planted in the host environment before any agent is built: the agent's Redactor
 * reads secret-looking variable names at construction. The name matches `*KEY*`.
 */
export const SECRET_NAME = 'PTC_FAULTS_API_KEY';
export const SECRET = `sk-fault-${randomBytes(12).toString('hex')}`;

/** Plants the secret; returns the undo. Call at module top, before any `new PTCAgent`. */
export function plantSecret(): () => void {
  const previous = process.env[SECRET_NAME];
  process.env[SECRET_NAME] = SECRET;
  return () => {
    if (previous === undefined) delete process.env[SECRET_NAME];
    else process.env[SECRET_NAME] = previous;
  };
}

/** Rejects with a clear message when `work` has not settled within `ms`. */
export async function settleWithin<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every event an agent emits, through every name of `EVENT_NAMES`. */
export function recordEvents(agent: PTCAgent): Array<{ name: string; payload: unknown }> {
  const events: Array<{ name: string; payload: unknown }> = [];
  for (const name of EVENT_NAMES) agent.on(name, (payload: unknown) => events.push({ name, payload }));
  return events;
}

/** An error flattened to text: name, code, message, stack and the whole cause chain (bounded). */
export function describeError(error: unknown, depth = 0): string {
  if (depth > 10) return '…';
  if (error instanceof Error) {
    const extra = JSON.stringify(error, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value)) ?? '';
    const cause = (error as { cause?: unknown }).cause;
    const nested = error instanceof AggregateError ? error.errors.map((inner) => describeError(inner, depth + 1)).join('\n') : '';
    return [error.name, error.message, error.stack ?? '', extra, nested, cause === undefined ? '' : `cause: ${describeError(cause, depth + 1)}`].join('\n');
  }
  try {
    return typeof error === 'string' ? error : JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** Where the secret was found, for a failure message that says where it leaked. */
export function whereIs(haystack: unknown, needle: string, path = '$', found: string[] = []): string[] {
  if (found.length >= 10) return found;
  if (typeof haystack === 'string') {
    if (haystack.includes(needle)) found.push(path);
  } else if (Array.isArray(haystack)) {
    haystack.forEach((item, index) => whereIs(item, needle, `${path}[${index}]`, found));
  } else if (haystack && typeof haystack === 'object') {
    for (const [key, value] of Object.entries(haystack)) whereIs(value, needle, `${path}.${key}`, found);
  }
  return found;
}

/** Asserts the secret appears nowhere in what a run let out. */
export function expectNoSecret(what: { errors?: unknown[]; [part: string]: unknown }): void {
  const leaks = whereIs({ ...what, errors: (what.errors ?? []).map((error) => describeError(error)) }, SECRET);
  expect(leaks, `the planted secret leaked at ${leaks.join(', ')}`).toEqual([]);
}

export function expectValidBundle(bundle: ArtifactBundle): void {
  const parsed = ArtifactBundleSchema.safeParse(bundle);
  expect(parsed.success, parsed.success ? '' : JSON.stringify(parsed.error.issues).slice(0, 2_000)).toBe(true);
}

/** What one run let out, whichever way it ended. */
export interface RunCapture {
  bundle: ArtifactBundle | undefined;
  error: unknown;
  events: Array<{ name: string; payload: unknown }>;
  streamItems: PTCStreamItem[];
}

/**
 * Runs a plan through `execute` (mode 'execute') or `stream` (mode 'stream') and records the
 * outcome, every event and every error, failing fast with a clear message when it hangs.
 */
export async function capture(
  agent: PTCAgent,
  plan: PlanInput,
  options: { mode: 'execute' | 'stream'; signal?: AbortSignal; deadlineMs: number },
): Promise<RunCapture> {
  const events = recordEvents(agent);
  const streamItems: PTCStreamItem[] = [];
  const work = (async () => {
    const executeOptions = options.signal ? { signal: options.signal } : {};
    if (options.mode === 'execute') return agent.execute(plan, executeOptions);
    let bundle: ArtifactBundle | undefined;
    for await (const item of agent.stream(plan, executeOptions)) {
      streamItems.push(item);
      if (item.type === 'bundle') bundle = item.bundle;
    }
    return bundle;
  })();
  try {
    const bundle = await settleWithin(work, options.deadlineMs, `agent.${options.mode}()`);
    return { bundle, error: undefined, events, streamItems };
  } catch (error) {
    if (error instanceof Error && error.message.includes('did not settle')) throw error;
    return { bundle: undefined, error, events, streamItems };
  }
}

/** Counts of `process.getActiveResourcesInfo()` by kind. */
export function activeResources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

/**
 * A baseline taken once the counts stop moving (two equal snapshots 100 ms apart, at most `ms`):
 * timers of earlier tests that are about to fire must not count as part of it.
 */
export async function quietBaseline(ms = 3_000): Promise<Map<string, number>> {
  const until = Date.now() + ms;
  let previous = activeResources();
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const next = activeResources();
    if (grownResources(previous, next).length === 0 && grownResources(next, previous).length === 0) return next;
    previous = next;
  }
  return previous;
}

/** Kinds whose count went up from `before` to `after`, as `kind: before → after`. */
export function grownResources(before: Map<string, number>, after: Map<string, number>): string[] {
  const grown: string[] = [];
  for (const [kind, count] of after) {
    const was = before.get(kind) ?? 0;
    if (count > was) grown.push(`${kind}: ${was} → ${count}`);
  }
  return grown;
}

/**
 * Waits until no kind of active resource exceeds `baseline`, or `ms` passes, and returns what
 * still exceeds it. A settle wait, not a timing assertion: closing handles take a few ticks.
 */
export async function resourcesBackTo(baseline: Map<string, number>, ms = 2_000): Promise<string[]> {
  const until = Date.now() + ms;
  let grown = grownResources(baseline, activeResources());
  while (grown.length > 0 && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    grown = grownResources(baseline, activeResources());
  }
  return grown;
}
