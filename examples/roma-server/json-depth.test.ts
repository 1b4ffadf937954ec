import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { jsonNestingExceeds } from './server.js';

/** Nesting depth of a parsed JSON value (objects and arrays count one level each). */
function depthOf(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + Math.max(0, ...children.map(depthOf));
}

describe('jsonNestingExceeds', () => {
  test('brackets, quotes and backslash runs inside strings do not count', () => {
    expect(jsonNestingExceeds(JSON.stringify({ a: '[[[[{{{{', b: 'x\\"[[[', c: '\\\\', d: ['\\\\"{{'] }), 2)).toBe(false);
    expect(jsonNestingExceeds('{"a\\\\":[[1]]}', 2)).toBe(true);
    expect(jsonNestingExceeds('"unterminated [[[[', 1)).toBe(false);
  });

  test('agrees with the real depth for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 1, max: 8 }), (value, limit) => {
        expect(jsonNestingExceeds(JSON.stringify(value), limit)).toBe(depthOf(value) > limit);
      }),
      { numRuns: 500 },
    );
  });
});
