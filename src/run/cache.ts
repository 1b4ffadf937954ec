import { performance } from 'node:perf_hooks';
import { type ArtifactBundle, ArtifactBundleSchema } from '../bundle.js';
import type { Cache } from '../contracts/cache.js';
import { sha256 } from '../internal/files.js';
import { withTimeout } from '../internal/async.js';
import type { RunContext } from './context.js';
import { isUsable } from './result.js';

/**
 * A cached bundle this plan may use, validated as strictly as model output: the schema (safe,
 * normalised paths included), every file's hash and size against its content, and no secret
 * value anywhere. A failing entry is a miss with a warning, never rewritten into a hit: the same
 * key must always give the same bytes.
 */
export async function readCache(context: RunContext, cache: Cache, key: string, signal: AbortSignal): Promise<{ bundle: ArtifactBundle | undefined; ms: number }> {
  const started = performance.now();
  let raw: unknown;
  try {
    raw = await bounded(cache, (callSignal) => cache.get(key, { signal: callSignal }), context.options.cacheTimeoutMs, signal, 'cache read');
  } catch (error) {
    if (signal.aborted) throw error;
    context.warn('CACHE_FAILED', `cache read failed, continuing without it: ${error instanceof Error ? error.message : String(error)}`);
  }
  const ms = performance.now() - started;
  if (raw === undefined || raw === null) return { bundle: undefined, ms };
  const parsed = ArtifactBundleSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    context.warn('CACHE_FAILED', `a cached entry failed validation and was ignored (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'})`);
    return { bundle: undefined, ms };
  }
  const bundle = parsed.data;
  const tampered = bundle.files.find((file) => file.sha256 !== sha256(file.content) || file.bytes !== Buffer.byteLength(file.content, 'utf8'));
  if (tampered) {
    context.warn('CACHE_FAILED', `a cached entry was ignored: ${tampered.path} does not match its recorded hash or size`);
    return { bundle: undefined, ms };
  }
  if (context.redactor.containsIn(bundle)) {
    context.warn('CACHE_FAILED', 'a cached entry was ignored: it contains a secret value');
    return { bundle: undefined, ms };
  }
  return { bundle: isUsable(bundle, context.plan) ? bundle : undefined, ms };
}

/** Stores a usable bundle; a failure is returned as a warning for the caller's copy, not thrown. */
export async function writeCache(context: RunContext, cache: Cache, key: string, bundle: ArtifactBundle, signal: AbortSignal | undefined): Promise<string | undefined> {
  if (!isUsable(bundle, context.plan)) return undefined;
  try {
    await bounded(
      cache,
      (callSignal) => cache.set(key, bundle, { ttlMs: context.plan.cacheTtlMs, signal: callSignal }),
      context.options.cacheTimeoutMs,
      signal,
      'cache write',
    );
    return undefined;
  } catch (error) {
    if (signal?.aborted) return undefined;
    return `cache write failed; the result was not stored: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Never aborted; stands in for a missing caller signal on calls that cannot hang. */
const UNBOUNDED = new AbortController().signal;

/** `withTimeout`, but not for an in-process cache (`Cache.inProcess`), whose calls settle at once. */
function bounded<T>(cache: Cache, task: (signal: AbortSignal) => Promise<T>, timeoutMs: number, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (cache.inProcess === true) return task(signal ?? UNBOUNDED);
  return withTimeout(task, timeoutMs, signal, what);
}
