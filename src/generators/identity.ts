import { createHash } from 'node:crypto';
import { canonicalJson } from '../internal/canonical-json.js';

/**
 * A short digest of the generator settings that change what the model writes (system prompt,
 * sampling, output limits, tool choice, prompt limits), for its `id`: the id is part of the
 * cache key, so two configurations that answer differently never share a cached bundle.
 * Settings that only change how it gets there (retries, timeouts, pricing) stay out.
 */
export function configurationDigest(configuration: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalJson(configuration)).digest('hex').slice(0, 12);
}
