import Anthropic from '@anthropic-ai/sdk';
import type { Usage } from '../../bundle.js';
import type { GenerationError } from '../../errors.js';
import type { Redactor } from '../../internal/redact.js';
import { generationFailure, jsonText, PERMANENT_HTTP_STATUSES, safeCause, type ForeignErrorShape } from '../failures.js';
import { answerProblems } from '../write-files.js';

/** The stream went silent; treated like a dropped connection. */
export class StreamIdleError extends Error {
  constructor(idleMs: number) {
    super(`the response stream sent nothing for ${idleMs} ms`);
    this.name = 'StreamIdleError';
  }
}

/** The tool input was not JSON at all (the SDK fails the stream on it): an invalid answer, not a broken stream. */
export class InvalidToolJsonError extends Error {
  constructor(detail: string) {
    super(answerProblems.invalidJson(detail));
    this.name = 'InvalidToolJsonError';
  }
}

/**
 * A stream that started and then broke. The SDK retries failures at request start itself
 * (429, 5xx, 529, connection errors, timeouts); it never retries these, so we do.
 */
export function isBrokenStream(error: unknown): boolean {
  if (error instanceof StreamIdleError) return true;
  if (error instanceof Anthropic.APIUserAbortError || error instanceof Anthropic.APIConnectionError) return false;
  // A mid-stream `event: error` is an APIError without an HTTP status.
  if (error instanceof Anthropic.APIError) return error.status === undefined;
  // A dropped socket surfaces as AnthropicError('terminated'), an early end as "request ended…".
  return error instanceof Anthropic.AnthropicError;
}

/** The API's 400 for a model that does not accept a forced tool choice. */
export function isToolChoiceRefusal(error: unknown): boolean {
  if (!(error instanceof Anthropic.APIError) || error.status !== 400) return false;
  const text = `${error.apiMessage ?? ''} ${error.message}`;
  return /tool_choice|forced tool|tool choice/i.test(text);
}

/** Failures that the next iteration would repeat: bad credentials, a refused or malformed request, an unknown model. */
function isPermanentFailure(error: unknown): boolean {
  if (error instanceof Anthropic.APIError && typeof error.status === 'number') {
    return PERMANENT_HTTP_STATUSES.has(error.status);
  }
  // The SDK found no credentials anywhere: a plain Error, which the streaming helper re-throws
  // wrapped in an AnthropicError. Retrying would spend the run's time repeating it.
  return error instanceof Error && !(error instanceof Anthropic.APIError) && /could not resolve authentication method/i.test(error.message);
}

export function describeError(error: unknown): string {
  if (error instanceof Anthropic.APIError) {
    const parts: string[] = [];
    if (error.status !== undefined) parts.push(String(error.status));
    if (error.type) parts.push(error.type);
    parts.push(error.apiMessage ?? error.message);
    return parts.join(' ');
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

/** Where the SDK's errors may quote a secret: the parsed error body, and the error they wrap. */
const ANTHROPIC_ERROR_SHAPE: ForeignErrorShape = {
  nonError: (value, redactor) => (typeof value === 'string' ? redactor.text(value) : value),
  bodies: (error) => [jsonText((error as { error?: unknown }).error)],
  wrapped: (error) => error.cause,
  fields: ['status', 'type', 'requestID', 'errorCode'],
};

export function toGenerationError(error: unknown, usage: Usage, redactor: Redactor): GenerationError {
  return generationFailure(
    {
      what: error instanceof StreamIdleError ? 'The response stream stalled' : 'The Anthropic API request failed',
      detail: describeError(error),
      permanent: isPermanentFailure(error),
      usage,
      cause: safeCause(error, redactor, ANTHROPIC_ERROR_SHAPE),
    },
    redactor,
  );
}
