import { SaxesParser } from 'saxes';
import type { TestCase } from '../bundle.js';

export interface JUnitParseResult {
  cases: TestCase[];
  /**
   * Set when the document is not well-formed XML or holds no suite; `cases` then holds the cases
   * read in full before and after the fault (often none).
   */
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

type DetailKind = 'failure' | 'error' | 'skipped';

/** A `<failure>`, `<error>` or `<skipped>` of a test case: its `message` and its text. */
interface Detail {
  readonly message: string | undefined;
  text: string;
}

/** An element the parse is inside, with what a test case in it inherits. */
interface Frame {
  readonly name: string;
  readonly suite: string | undefined;
  readonly file: string | undefined;
}

/** The `<testcase>` being read. */
interface OpenCase {
  readonly attributes: Record<string, string>;
  readonly suite: string | undefined;
  readonly file: string | undefined;
  /** Its depth in the element stack: the close tag at this depth ends it. */
  readonly depth: number;
  /** The first detail of each kind (a runner writes one). */
  readonly details: Partial<Record<DetailKind, Detail>>;
  /** The detail whose text is being collected: only a direct child of the test case is read. */
  reading: Detail | undefined;
}

const DETAIL_KINDS: ReadonlySet<string> = new Set(['failure', 'error', 'skipped']);
/** Where a `<testcase>` is read: at the top of the document, or in a suite at any depth. */
const SUITE_ELEMENTS: ReadonlySet<string> = new Set(['testsuite', 'testsuites']);

/**
 * Reads JUnit XML as pytest, node:test, vitest, jest-junit and most other runners write it. It
 * never throws: a report is output of untrusted code, so anything unreadable comes back as `error`.
 *
 * The parse streams (saxes): no tree is built, a detail's text is kept only up to what its
 * message may hold, and no entity a document type declaration defines is ever expanded (an
 * entity bomb stays the text `&name;`), so neither the size nor the nesting of a report makes it
 * costly. Faults are recorded and the parse goes on, as lenient as the runners that write the
 * reports: a control character in a test name is not well-formed XML, the rest of the report is.
 */
export function parseJUnit(xml: string, options: JUnitParseOptions = {}): JUnitParseResult {
  const maxCases = options.maxCases ?? 10_000;
  const maxMessageChars = options.maxMessageChars ?? 4_000;
  // The text is trimmed before it is capped: keep room for the blank space around it.
  const maxTextChars = maxMessageChars * 2 + 1_000;
  const cases: TestCase[] = [];
  const stack: Frame[] = [];
  let truncated = false;
  let sawSuite = false;
  let open: OpenCase | undefined;
  let fault: string | undefined;

  const parser = new SaxesParser({ position: false });
  parser.on('error', (error) => {
    fault ??= describe(error);
  });
  parser.on('opentag', (tag) => {
    const attributes = tag.attributes as Record<string, string>;
    const parent = stack.at(-1);
    stack.push({
      name: tag.name,
      suite: tag.name === 'testsuite' ? (attributes.name ?? parent?.suite) : parent?.suite,
      file: attributes.file ?? parent?.file,
    });
    if (open !== undefined) {
      if (stack.length === open.depth + 1 && DETAIL_KINDS.has(tag.name)) {
        const detail: Detail = { message: attributes.message, text: '' };
        open.details[tag.name as DetailKind] ??= detail;
        open.reading = detail;
      }
      return;
    }
    if (SUITE_ELEMENTS.has(tag.name)) sawSuite = true;
    if (tag.name !== 'testcase' || (parent !== undefined && !SUITE_ELEMENTS.has(parent.name))) return;
    if (cases.length >= maxCases) {
      truncated = true;
      return;
    }
    open = { attributes, suite: parent?.suite, file: parent?.file, depth: stack.length, details: {}, reading: undefined };
  });
  const onText = (text: string) => {
    const reading = open?.reading;
    // Text of elements nested in the detail (depth beyond the detail's) is not its message.
    if (reading === undefined || stack.length !== open!.depth + 1 || reading.text.length >= maxTextChars) return;
    reading.text += text.length <= maxTextChars - reading.text.length ? text : text.slice(0, maxTextChars - reading.text.length);
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => {
    const depth = stack.length;
    stack.pop();
    if (open === undefined) return;
    if (depth === open.depth) {
      cases.push(readCase(open, maxMessageChars));
      open = undefined;
    } else if (depth === open.depth + 1) {
      open.reading = undefined;
    }
  });
  try {
    parser.write(xml).close();
  } catch (error) {
    // saxes reports faults to the handler; this is for anything it throws regardless.
    fault ??= describe(error);
  }
  if (fault !== undefined) return { cases, truncated, error: `unreadable JUnit XML: ${fault}` };
  if (cases.length === 0 && !sawSuite) return { cases, truncated, error: 'no <testsuite> or <testsuites> element in the report' };
  return { cases, truncated };
}

function readCase(open: OpenCase, maxMessageChars: number): TestCase {
  const { attributes, details } = open;
  const status: TestCase['status'] = details.error ? 'errored' : details.failure ? 'failed' : details.skipped ? 'skipped' : 'passed';
  const testCase: TestCase = { name: attributes.name ?? '(unnamed)', status };
  const suite = attributes.classname ?? open.suite;
  if (suite) testCase.suite = suite;
  const file = attributes.file ?? open.file;
  if (file) testCase.file = file;
  const seconds = attributes.time === undefined ? Number.NaN : Number(attributes.time);
  if (Number.isFinite(seconds) && seconds >= 0) testCase.durationMs = seconds * 1000;
  const detail = details.error ?? details.failure ?? details.skipped;
  if (detail !== undefined && status !== 'passed') {
    const message = messageOf(detail);
    if (message) testCase.message = message.length > maxMessageChars ? `${message.slice(0, maxMessageChars)}…` : message;
  }
  return testCase;
}

function messageOf(detail: Detail): string {
  const summary = detail.message?.trim() ?? '';
  const body = detail.text.trim();
  if (!body) return summary;
  if (!summary || body.includes(summary)) return body;
  return `${summary}\n${body}`;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message.slice(0, 500) : String(error).slice(0, 500);
}
