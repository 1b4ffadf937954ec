import type { Usage } from './usage.js';

/**
 * One error root with stable codes. Branch on `error.code`, never on the message: messages are
 * for people and may change, codes are part of the API.
 */
export const ERROR_CODES = [
  'PLAN_INVALID',
  'OPTIONS_INVALID',
  'GENERATION_FAILED',
  'GENERATION_OUTPUT_INVALID',
  'OUTPUT_REJECTED',
  'SANDBOX_OPEN_FAILED',
  'DEPENDENCY_INSTALL_FAILED',
  'SANDBOX_FAILED',
  'TEST_PRESET_UNAVAILABLE',
  'PATH_UNSAFE',
  'BUNDLE_INVALID',
  'CACHE_FAILED',
  'CHECKPOINT_NOT_FOUND',
  'CHECKPOINT_FAILED',
  'TESTS_FAILED',
  'BUDGET_EXHAUSTED',
  'TIMEOUT',
  'ABORTED',
  'AGENT_CLOSED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface PTCErrorOptions {
  cause?: unknown;
}

/**
 * Marks our errors across copies of the package: an app that loads both the ESM and the CJS build
 * (or two versions) gets two `PTCError` classes, and `instanceof` one of them fails for the
 * other's errors. The brand is a registered symbol, the same in every copy.
 */
const BRAND = Symbol.for('ptc-agent.error');

export class PTCError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options: PTCErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /**
   * `instanceof PTCError` (or a subclass) holds for errors of any copy of the package: by brand and
   * class name, not by identity of the class object.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    if (!isPTCError(value)) return false;
    for (let prototype = Object.getPrototypeOf(value); prototype !== null; prototype = Object.getPrototypeOf(prototype)) {
      if ((prototype as { constructor?: { name?: string } }).constructor?.name === this.name) return true;
    }
    return false;
  }

  /** A JSON-safe view of the error, the shape a bundle stores. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export interface PlanIssue {
  /** Dotted path to the offending field, `''` for the plan itself. */
  path: string;
  message: string;
}

/** The plan failed validation. `issues` lists every problem, each with its path. */
export class PlanValidationError extends PTCError {
  readonly issues: readonly PlanIssue[];

  constructor(issues: readonly PlanIssue[], options: PTCErrorOptions = {}) {
    const summary = issues.map((issue) => `${issue.path || '(plan)'}: ${issue.message}`).join('; ');
    super('PLAN_INVALID', `Invalid plan: ${summary}`, options);
    this.issues = issues;
  }
}

/**
 * The generator could not produce usable output. `retryable: false` stops the run at once
 * (bad credentials, a refused request); otherwise the next iteration is attempted.
 */
export class GenerationError extends PTCError {
  readonly retryable: boolean;
  /** Tokens spent on the failed attempt, so the run's usage and cost stay true. */
  readonly usage: Usage | undefined;

  constructor(
    message: string,
    options: PTCErrorOptions & {
      code?: 'GENERATION_FAILED' | 'GENERATION_OUTPUT_INVALID';
      retryable?: boolean;
      usage?: Usage;
    } = {},
  ) {
    super(options.code ?? 'GENERATION_FAILED', message, options);
    this.retryable = options.retryable ?? true;
    this.usage = options.usage;
  }
}

/** A sandbox could not be opened, written to, or run a command. */
export class SandboxError extends PTCError {
  constructor(
    message: string,
    options: PTCErrorOptions & {
      code?: 'SANDBOX_OPEN_FAILED' | 'DEPENDENCY_INSTALL_FAILED' | 'SANDBOX_FAILED' | 'TEST_PRESET_UNAVAILABLE' | 'OUTPUT_REJECTED';
    } = {},
  ) {
    super(options.code ?? 'SANDBOX_FAILED', message, options);
  }
}

/** A path from a model, a plan or a bundle would escape its root, or is malformed. */
export class PathSafetyError extends PTCError {
  readonly path: string;

  constructor(path: string, reason: string, options: PTCErrorOptions = {}) {
    super('PATH_UNSAFE', `Unsafe path ${JSON.stringify(path.slice(0, 200))}: ${reason}`, options);
    this.path = path;
  }
}

export class PTCTimeoutError extends PTCError {
  readonly timeoutMs: number;

  constructor(message: string, timeoutMs: number, options: PTCErrorOptions = {}) {
    super('TIMEOUT', message, options);
    this.timeoutMs = timeoutMs;
  }
}

export class PTCAbortError extends PTCError {
  constructor(message = 'The operation was aborted', options: PTCErrorOptions = {}) {
    super('ABORTED', message, options);
  }
}

/** Whether `value` is an error of ptc-agent, from whichever copy of the package (ESM, CJS, another version). */
export function isPTCError(value: unknown): value is PTCError {
  return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
}
