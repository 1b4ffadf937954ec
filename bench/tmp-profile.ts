import { performance } from 'node:perf_hooks';
import { Keyv } from 'keyv';
import { ArtifactBundleSchema } from '../src/bundle.js';
import { withTimeout } from '../src/internal/async.js';
import { sampleBundle } from '../src/testing/conformance/cache.js';
const signal = new AbortController().signal;
const keyv = new Keyv();
const entry = { format: 1, storedAt: 'x', bundle: sampleBundle('p') };
await keyv.set('k', entry);
const json = JSON.stringify(entry);
console.log('bytes', json.length);
async function time(label: string, fn: () => unknown, n = 20000) {
  for (let i = 0; i < 2000; i++) await fn();
  const s: number[] = [];
  for (let i = 0; i < n; i++) { const t = performance.now(); await fn(); s.push(performance.now() - t); }
  s.sort((a, b) => a - b); console.log(label.padEnd(20), (s[n / 2]! * 1000).toFixed(1), 'µs');
}
await time('keyv.get raw', () => keyv.get('k', { raw: true }));
await time('JSON.parse', () => JSON.parse(json));
await time('zod parse', () => ArtifactBundleSchema.safeParse(entry.bundle));
await time('withTimeout noop', () => withTimeout(async () => 1, 1000, signal, 'x'));
