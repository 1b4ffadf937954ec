/**
 * Field converters for ROMA's wire types with pydantic v2's lax semantics: coercion of ints,
 * floats and bools as pydantic does it, `null` only where a field is Optional, defaults for absent
 * keys, datetimes parsed and re-emitted as `model_dump(mode="json")` prints them, and pydantic's
 * error types and messages on every issue. The models built from them are in schemas.ts.
 */
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// Lax field converters with pydantic's error types and messages

export interface FieldIssue {
  type: string;
  message: string;
  /** Below the field, e.g. the index of a bad list item. */
  path?: Array<string | number>;
}
export type Converted<T> = { value: T } | { issues: FieldIssue[] };

const REQUIRED: FieldIssue = { type: 'missing', message: 'Field required' };

/** Absent key: `missing` when required, else the default. */
export interface FieldRules<T> {
  /** Value used when the key is absent; without it the field is required. */
  fallback?: () => T | null;
  /** Whether `null` is a value (pydantic `Optional`). */
  nullable?: boolean;
}

/** Wraps a converter as a zod field. `optional()` first: zod 4 would otherwise refuse an absent key before the converter sees it. */
export function field<T>(convert: (input: unknown) => Converted<T>) {
  return z
    .unknown()
    .optional()
    .transform((input, context): T => {
      const result = convert(input);
      if ('value' in result) return result.value;
      for (const issue of result.issues) {
        context.addIssue({ code: 'custom', message: issue.message, path: issue.path ?? [], params: { type: issue.type } });
      }
      return z.NEVER;
    });
}

export function withRules<T>(rules: FieldRules<T>, input: unknown, convert: (input: unknown) => Converted<T>): Converted<T | null> {
  if (input === undefined) return rules.fallback ? { value: rules.fallback() } : { issues: [REQUIRED] };
  if (input === null && rules.nullable) return { value: null };
  return convert(input);
}

export function stringValue(input: unknown): Converted<string> {
  return typeof input === 'string' ? { value: input } : { issues: [{ type: 'string_type', message: 'Input should be a valid string' }] };
}

const INTEGER_TEXT = /^[+-]?\d+(?:_\d+)*(?:\.0*)?$/;

function integerValue(input: unknown): Converted<number> {
  if (typeof input === 'boolean') return { value: input ? 1 : 0 };
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return { issues: [{ type: 'finite_number', message: 'Input should be a finite number' }] };
    if (!Number.isInteger(input)) {
      return { issues: [{ type: 'int_from_float', message: 'Input should be a valid integer, got a number with a fractional part' }] };
    }
    return { value: input };
  }
  if (typeof input === 'string') {
    const text = input.trim();
    if (INTEGER_TEXT.test(text)) {
      const value = Number(text.replace(/_/g, '').replace(/\.0*$/, ''));
      if (Number.isSafeInteger(value)) return { value: Object.is(value, -0) ? 0 : value };
    }
    return { issues: [{ type: 'int_parsing', message: 'Input should be a valid integer, unable to parse string as an integer' }] };
  }
  return { issues: [{ type: 'int_type', message: 'Input should be a valid integer' }] };
}

function numberValue(input: unknown): Converted<number> {
  if (typeof input === 'boolean') return { value: input ? 1 : 0 };
  if (typeof input === 'number') return Number.isFinite(input) ? { value: input } : { issues: [{ type: 'finite_number', message: 'Input should be a finite number' }] };
  if (typeof input === 'string') {
    const text = input.trim().replace(/(\d)_(?=\d)/g, '$1');
    const value = text === '' ? Number.NaN : Number(text);
    if (Number.isFinite(value)) return { value };
    return { issues: [{ type: 'float_parsing', message: 'Input should be a valid number, unable to parse string as a number' }] };
  }
  return { issues: [{ type: 'float_type', message: 'Input should be a valid number' }] };
}

const TRUE_TEXT = new Set(['1', 'on', 't', 'true', 'y', 'yes']);
const FALSE_TEXT = new Set(['0', 'off', 'f', 'false', 'n', 'no']);

function booleanValue(input: unknown): Converted<boolean> {
  if (typeof input === 'boolean') return { value: input };
  if (input === 0 || input === 1) return { value: input === 1 };
  if (typeof input === 'string') {
    const text = input.toLowerCase();
    if (TRUE_TEXT.has(text)) return { value: true };
    if (FALSE_TEXT.has(text)) return { value: false };
  }
  if (typeof input === 'string' || typeof input === 'number') {
    return { issues: [{ type: 'bool_parsing', message: 'Input should be a valid boolean, unable to interpret input' }] };
  }
  return { issues: [{ type: 'bool_type', message: 'Input should be a valid boolean' }] };
}

function bounded(result: Converted<number>, minimum: number | undefined, maximum: number | undefined): Converted<number> {
  if (!('value' in result)) return result;
  if (minimum !== undefined && result.value < minimum) {
    return { issues: [{ type: 'greater_than_equal', message: `Input should be greater than or equal to ${minimum}` }] };
  }
  if (maximum !== undefined && result.value > maximum) {
    return { issues: [{ type: 'less_than_equal', message: `Input should be less than or equal to ${maximum}` }] };
  }
  return result;
}

function quoteList(values: readonly string[]): string {
  const quoted = values.map((value) => `'${value}'`);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
}

function isPlainObject(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

export function text(rules: FieldRules<string> & { nullable: true }): ReturnType<typeof field<string | null>>;
export function text(rules?: FieldRules<string>): ReturnType<typeof field<string>>;
export function text(rules: FieldRules<string> = {}) {
  return field((input) => withRules(rules, input, stringValue));
}

export function integer(rules: FieldRules<number> & { nullable: true; minimum?: number; maximum?: number }): ReturnType<typeof field<number | null>>;
export function integer(rules?: FieldRules<number> & { minimum?: number; maximum?: number }): ReturnType<typeof field<number>>;
export function integer(rules: FieldRules<number> & { minimum?: number; maximum?: number } = {}) {
  return field((input) => withRules(rules, input, (value) => bounded(integerValue(value), rules.minimum, rules.maximum)));
}

export function float(rules: FieldRules<number> & { nullable: true; minimum?: number }): ReturnType<typeof field<number | null>>;
export function float(rules?: FieldRules<number> & { minimum?: number }): ReturnType<typeof field<number>>;
export function float(rules: FieldRules<number> & { minimum?: number } = {}) {
  return field((input) => withRules(rules, input, (value) => bounded(numberValue(value), rules.minimum, undefined)));
}

export function flag(fallback: boolean) {
  return field((input) => withRules({ fallback: () => fallback }, input, booleanValue) as Converted<boolean>);
}

export function oneOf<const Values extends readonly string[]>(values: Values, rules: FieldRules<Values[number]> & { nullable: true }): ReturnType<typeof field<Values[number] | null>>;
export function oneOf<const Values extends readonly string[]>(values: Values, rules?: FieldRules<Values[number]>): ReturnType<typeof field<Values[number]>>;
export function oneOf(values: readonly string[], rules: FieldRules<string> = {}) {
  return field((input) =>
    withRules(rules, input, (value) =>
      typeof value === 'string' && values.includes(value)
        ? { value }
        : { issues: [{ type: 'enum', message: `Input should be ${quoteList(values)}` }] },
    ),
  );
}

export function textList() {
  return field((input) =>
    withRules({ fallback: () => [] as string[] }, input, (value): Converted<string[]> => {
      if (!Array.isArray(value)) return { issues: [{ type: 'list_type', message: 'Input should be a valid list' }] };
      const issues: FieldIssue[] = [];
      value.forEach((item, index) => {
        if (typeof item !== 'string') issues.push({ type: 'string_type', message: 'Input should be a valid string', path: [index] });
      });
      return issues.length > 0 ? { issues } : { value: [...(value as string[])] };
    }) as Converted<string[]>,
  );
}

export function dictionary(rules: FieldRules<Record<string, unknown>> & { nullable: true }): ReturnType<typeof field<Record<string, unknown> | null>>;
export function dictionary(rules?: FieldRules<Record<string, unknown>>): ReturnType<typeof field<Record<string, unknown>>>;
export function dictionary(rules: FieldRules<Record<string, unknown>> = {}) {
  return field((input) =>
    withRules(rules, input, (value) => (isPlainObject(value) ? { value: { ...value } } : { issues: [{ type: 'dict_type', message: 'Input should be a valid dictionary' }] })),
  );
}

export function textDictionary() {
  return field((input) =>
    withRules({ fallback: () => null, nullable: true }, input, (value): Converted<Record<string, string>> => {
      if (!isPlainObject(value)) return { issues: [{ type: 'dict_type', message: 'Input should be a valid dictionary' }] };
      const issues: FieldIssue[] = [];
      for (const [key, item] of Object.entries(value)) {
        if (typeof item !== 'string') issues.push({ type: 'string_type', message: 'Input should be a valid string', path: [key] });
      }
      return issues.length > 0 ? { issues } : { value: { ...(value as Record<string, string>) } };
    }),
  );
}

/** A non-blank string, stripped (ROMA's `execution_id` validators). */
export function identifier(name: string) {
  return field((input) =>
    withRules({}, input, (value): Converted<string> => {
      const result = stringValue(value);
      if (!('value' in result)) return result;
      const stripped = result.value.trim();
      if (stripped === '') return { issues: [{ type: 'value_error', message: `Value error, ${name} cannot be empty` }] };
      return { value: stripped };
    }) as Converted<string>,
  );
}

// ---------------------------------------------------------------------------------------------
// Datetimes, as pydantic parses and prints them

const DATETIME_TEXT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?$/;
const NUMERIC_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** pydantic reads a number above this as milliseconds since the epoch, at or below as seconds. */
const MILLISECONDS_THRESHOLD = 2e10;

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/**
 * A UTC instant as Python prints a naive `datetime.utcnow()` in JSON mode:
 * `YYYY-MM-DDTHH:MM:SS.ffffff`, no `Z`, and no fraction at all when the microseconds are 0.
 * JS dates carry milliseconds, so the last three digits are always 0 unless `microseconds` is given.
 */
export function formatNaiveUtc(date: Date, microseconds?: number): string {
  const base = `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
  const micros = microseconds ?? date.getUTCMilliseconds() * 1_000;
  return micros === 0 ? base : `${base}.${pad(micros, 6)}`;
}

function datetimeValue(input: unknown): Converted<string> {
  const invalid = (detail: string): Converted<string> => ({
    issues: [{ type: 'datetime_parsing', message: `Input should be a valid datetime, ${detail}` }],
  });
  if (typeof input === 'number' || (typeof input === 'string' && NUMERIC_TEXT.test(input.trim()))) {
    const number = Number(input);
    if (!Number.isFinite(number)) return invalid('invalid number');
    const milliseconds = Math.abs(number) > MILLISECONDS_THRESHOLD ? number : number * 1_000;
    const date = new Date(Math.round(milliseconds));
    if (Number.isNaN(date.getTime())) return invalid('value out of range');
    // pydantic makes numbers aware UTC datetimes, printed with `Z`.
    return { value: `${formatNaiveUtc(date)}Z` };
  }
  if (typeof input !== 'string') return { issues: [{ type: 'datetime_type', message: 'Input should be a valid datetime' }] };
  const match = DATETIME_TEXT.exec(input);
  if (!match) return invalid('invalid format');
  const [, year, month, day, hour = '00', minute = '00', second = '00', fraction = '', zulu, sign, offsetHours, offsetMinutes] = match;
  const parts = [Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second)] as const;
  const check = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2], parts[3], parts[4], parts[5]));
  if (
    check.getUTCFullYear() !== parts[0] ||
    check.getUTCMonth() !== parts[1] - 1 ||
    check.getUTCDate() !== parts[2] ||
    parts[3] > 23 ||
    parts[4] > 59 ||
    parts[5] > 59
  ) {
    return invalid('value out of range');
  }
  // Python keeps microseconds: extra digits are cut, not rounded.
  const micros = Number(fraction.slice(0, 6).padEnd(6, '0'));
  const naive = formatNaiveUtc(check, micros);
  if (zulu) return { value: `${naive}Z` };
  if (sign) {
    if (Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return invalid('timezone offset out of range');
    return { value: offsetHours === '00' && offsetMinutes === '00' ? `${naive}Z` : `${naive}${sign}${offsetHours}:${offsetMinutes}` };
  }
  return { value: naive };
}

export function datetime(rules: FieldRules<string> = {}) {
  return field((input) => withRules(rules, input, datetimeValue) as Converted<string>);
}

