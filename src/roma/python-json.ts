/**
 * Just enough of Python's `json.dumps`, `str.strip` and `sorted` to reproduce ROMA's cache key
 * byte for byte. ROMA hashes `json.dumps(obj, sort_keys=True)` with every other argument at its
 * default, so the text differs from `JSON.stringify` in four ways: `", "` and `": "` separators,
 * `ensure_ascii` (everything outside space..tilde escaped as `\uXXXX`, lowercase hex), keys sorted
 * by code point at every depth, and floats printed with Python's `repr`.
 */

/** The characters Python's `str.isspace()` accepts, which `str.strip()` removes. Not the same set as JS `trim()`. */
const PYTHON_WHITESPACE = new Set([
  '\t', '\n', '\x0b', '\x0c', '\r', '\x1c', '\x1d', '\x1e', '\x1f', ' ', '\x85', '\xa0', '\u1680',
  '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a',
  '\u2028', '\u2029', '\u202f', '\u205f', '\u3000',
]);

/** Python's `text.strip()`: JS `trim()` also strips U+FEFF and misses U+001C–U+001F and U+0085. */
export function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PYTHON_WHITESPACE.has(text[start]!)) start += 1;
  while (end > start && PYTHON_WHITESPACE.has(text[end - 1]!)) end -= 1;
  return text.slice(start, end);
}

/**
 * Python's string order: by code point. JS's default sort compares UTF-16 units, which puts
 * astral characters (emoji) before U+E000–U+FFFF; Python puts them after.
 */
export function comparePythonStrings(a: string, b: string): number {
  const left = a[Symbol.iterator]();
  const right = b[Symbol.iterator]();
  for (;;) {
    const x = left.next();
    const y = right.next();
    if (x.done || y.done) return x.done && y.done ? 0 : x.done ? -1 : 1;
    const difference = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (difference !== 0) return difference;
  }
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

/** `json.dumps` of a str with `ensure_ascii=True`: per UTF-16 unit, which gives Python's surrogate pairs. */
function encodeString(text: string): string {
  let out = '"';
  for (let index = 0; index < text.length; index += 1) {
    const character = text[index]!;
    const short = SHORT_ESCAPES[character];
    if (short !== undefined) {
      out += short;
      continue;
    }
    const unit = text.charCodeAt(index);
    out += unit >= 0x20 && unit <= 0x7e ? character : `\\u${unit.toString(16).padStart(4, '0')}`;
  }
  return `${out}"`;
}

/**
 * Python's `repr(float)`: the shortest round-trip digits (as JS finds them), laid out the Python
 * way: positional for exponents -4..15 with at least one decimal, else `d.ddde+XX`.
 */
export function pythonFloatRepr(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Infinity';
  if (value === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    const fraction = digits.slice(exponent + 1);
    return `${sign}${whole}.${fraction === '' ? '0' : fraction}`;
  }
  const head = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const exponentSign = exponent < 0 ? '-' : '+';
  return `${sign}${head}e${exponentSign}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/**
 * A JSON number as Python would print it after `json.loads`. JS cannot tell `1` from `1.0` once
 * parsed, so integral values up to 2^53 print as ints (what pydantic keeps and ROMA's client
 * sends back). Larger integral values print as floats: Python writes big ints in full, digits
 * JS cannot hold anyway, so such a number most likely came from a Python float (`1.5e+300`).
 */
function encodeNumber(value: number): string {
  return Number.isSafeInteger(value) ? String(value) : pythonFloatRepr(value);
}

/**
 * `json.dumps(value, sort_keys=True)` with Python's defaults. Accepts JSON values only; anything
 * else (undefined, functions, symbols, class instances other than plain objects and arrays)
 * throws a TypeError, as Python's encoder would.
 */
export function pythonJsonDumps(value: unknown): string {
  return encode(value, new Set());
}

function encode(value: unknown, seen: Set<object>): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'string') return encodeString(value);
  if (typeof value === 'number') return encodeNumber(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value !== 'object') throw new TypeError(`Object of type ${typeof value} is not JSON serializable`);
  if (seen.has(value)) throw new TypeError('Circular reference detected');
  seen.add(value);
  try {
    if (Array.isArray(value)) return `[${value.map((item) => encode(item, seen)).join(', ')}]`;
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) {
      throw new TypeError(`Object of type ${value.constructor?.name ?? 'unknown'} is not JSON serializable`);
    }
    const keys = Object.keys(value).sort(comparePythonStrings);
    const members = keys.map((key) => `${encodeString(key)}: ${encode((value as Record<string, unknown>)[key], seen)}`);
    return `{${members.join(', ')}}`;
  } finally {
    seen.delete(value);
  }
}
