import { XMLParser } from 'fast-xml-parser';
import type { TestCase } from '../bundle.js';

export interface JUnitParseResult {
  cases: TestCase[];
  /** Set when the document could not be read; `cases` then holds what was recovered (often nothing). */
  error?: string;
  /** True when more cases than `maxCases` were present. */
  truncated: boolean;
}

export interface JUnitParseOptions {
  /** @default 10000 */
  maxCases?: number;
  /** Longest kept failure message, in characters. @default 4000 */
  maxMessageChars?: number;
}

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  allowBooleanAttributes: true,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
  textNodeName: '#text',
  cdataPropName: false,
  // Bounded entity handling: a report is sandbox output, so an entity bomb must not expand.
  processEntities: { enabled: true, maxEntityCount: 20, maxTotalExpansions: 1000, maxExpandedLength: 100_000 },
  maxNestedTags: 200,
  isArray: (name) => name === 'testsuite' || name === 'testcase' || name === 'failure' || name === 'error' || name === 'skipped',
});

/**
 * Reads JUnit XML as pytest, node:test, vitest, jest-junit and most other runners write it. It
 * never throws: a report is output of untrusted code, so anything unreadable comes back as `error`.
 */
export function parseJUnit(xml: string, options: JUnitParseOptions = {}): JUnitParseResult {
  const maxCases = options.maxCases ?? 10_000;
  const maxMessageChars = options.maxMessageChars ?? 4_000;
  let document: unknown;
  try {
    document = parser.parse(xml);
  } catch (error) {
    return { cases: [], truncated: false, error: `unreadable JUnit XML: ${describe(error)}` };
  }
  const cases: TestCase[] = [];
  let truncated = false;
  // Iterative walk: suites nest arbitrarily (node:test puts describe blocks in nested suites).
  const stack: Array<{ node: XmlNode; suite: string | undefined; file: string | undefined }> = [];
  if (isNode(document)) stack.push({ node: document, suite: undefined, file: undefined });
  while (stack.length > 0) {
    const { node, suite, file } = stack.pop()!;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'testcase') {
        for (const testcase of asArray(value)) {
          if (cases.length >= maxCases) {
            truncated = true;
            break;
          }
          if (isNode(testcase)) cases.push(readCase(testcase, suite, file, maxMessageChars));
        }
      } else if (key === 'testsuite' || key === 'testsuites') {
        for (const child of asArray(value)) {
          if (!isNode(child)) continue;
          stack.push({
            node: child,
            suite: key === 'testsuite' ? text(child.name) ?? suite : suite,
            file: text(child.file) ?? file,
          });
        }
      }
    }
  }
  if (cases.length === 0 && !/<testsuites?[\s>/]/.test(xml)) {
    return { cases, truncated, error: 'no <testsuite> or <testsuites> element in the report' };
  }
  return { cases, truncated };
}

function readCase(node: XmlNode, suite: string | undefined, file: string | undefined, maxMessageChars: number): TestCase {
  const failure = first(node.failure);
  const error = first(node.error);
  const skipped = first(node.skipped);
  const status: TestCase['status'] =
    error !== undefined ? 'errored' : failure !== undefined ? 'failed' : skipped !== undefined ? 'skipped' : 'passed';
  const detail = error ?? failure ?? skipped;
  const testCase: TestCase = { name: text(node.name) ?? '(unnamed)', status };
  const className = text(node.classname) ?? suite;
  if (className) testCase.suite = className;
  const caseFile = text(node.file) ?? file;
  if (caseFile) testCase.file = caseFile;
  const seconds = Number(text(node.time));
  if (Number.isFinite(seconds) && seconds >= 0) testCase.durationMs = seconds * 1000;
  if (detail !== undefined && status !== 'passed') {
    const message = messageOf(detail);
    if (message) testCase.message = message.length > maxMessageChars ? `${message.slice(0, maxMessageChars)}…` : message;
  }
  return testCase;
}

function messageOf(detail: unknown): string {
  if (typeof detail === 'string') return detail.trim();
  if (!isNode(detail)) return '';
  const summary = text(detail.message)?.trim() ?? '';
  const body = text(detail['#text'])?.trim() ?? '';
  if (!body) return summary;
  if (!summary || body.includes(summary)) return body;
  return `${summary}\n${body}`;
}

function first(value: unknown): unknown {
  return Array.isArray(value) ? value[0] : value;
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** fast-xml-parser decodes named entities only; pytest writes newlines in attributes as `&#10;`. */
function decodeCharacterReferences(value: string): string {
  if (!value.includes('&#')) return value;
  return value.replace(/&#(x[0-9a-fA-F]{1,6}|[0-9]{1,7});/g, (reference, code: string) => {
    const point = code.startsWith('x') ? Number.parseInt(code.slice(1), 16) : Number.parseInt(code, 10);
    return point <= 0x10ffff ? String.fromCodePoint(point) : reference;
  });
}

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return decodeCharacterReferences(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 500) : String(error).slice(0, 500);
}
