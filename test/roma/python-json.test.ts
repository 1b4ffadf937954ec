import { describe, expect, test } from 'vitest';
import { comparePythonStrings, pythonFloatRepr, pythonJsonDumps, pythonStrip } from '../../src/roma/index.js';

describe('pythonJsonDumps (json.dumps(obj, sort_keys=True))', () => {
  test('uses ", " and ": " separators and sorts keys at every depth', () => {
    expect(pythonJsonDumps({ b: [1, { d: null, c: true }], a: 'x' })).toBe('{"a": "x", "b": [1, {"c": true, "d": null}]}');
    expect(pythonJsonDumps({ empty: {}, list: [] })).toBe('{"empty": {}, "list": []}');
  });

  test('escapes like ensure_ascii=True: everything outside space..tilde, lowercase hex, surrogate pairs', () => {
    expect(pythonJsonDumps('é\u007f\u0001"\\\n\t\r\b\f😀/')).toBe('"\\u00e9\\u007f\\u0001\\"\\\\\\n\\t\\r\\b\\f\\ud83d\\ude00/"');
  });

  test('prints floats as Python repr does', () => {
    const cases: Array<[number, string]> = [
      [1e16, '1e+16'],
      [1e-5, '1e-05'],
      [0.0001, '0.0001'],
      [123456789012345.6, '123456789012345.6'],
      [1.5e300, '1.5e+300'],
      [5e-324, '5e-324'],
      [-2.5e-10, '-2.5e-10'],
      [1e22, '1e+22'],
      [0.5, '0.5'],
      [-0, '-0.0'],
    ];
    for (const [value, expected] of cases) expect(pythonFloatRepr(value)).toBe(expected);
    // Integral JSON numbers print as ints: the form pydantic keeps and ROMA's client sends.
    expect(pythonJsonDumps([1, 2.5, 1e-7])).toBe('[1, 2.5, 1e-07]');
  });

  test('refuses values Python could not encode', () => {
    expect(() => pythonJsonDumps({ a: undefined })).toThrow(TypeError);
    expect(() => pythonJsonDumps(new Date())).toThrow(TypeError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => pythonJsonDumps(cycle)).toThrow(/Circular/);
  });
});

describe('pythonStrip and comparePythonStrings', () => {
  test('strip removes what str.isspace() accepts, not what trim() does', () => {
    expect(pythonStrip('\x1c\x85 a b\u3000\t')).toBe('a b');
    // U+FEFF is not whitespace to Python.
    expect(pythonStrip('\ufeffa\ufeff')).toBe('\ufeffa\ufeff');
  });

  test('orders by code point, so emoji sort after U+E000', () => {
    expect(['😀', '\ue000', 'a'].sort(comparePythonStrings)).toEqual(['a', '\ue000', '😀']);
    expect(comparePythonStrings('ab', 'a')).toBeGreaterThan(0);
    expect(comparePythonStrings('a', 'a')).toBe(0);
  });
});
