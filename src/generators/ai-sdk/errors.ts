import {
  APICallError,
  InvalidArgumentError,
  LoadAPIKeyError,
  NoSuchModelError,
  RetryError,
  UnsupportedFunctionalityError,
} from 'ai';
import type { Usage } from '../../bundle.js';
import { GenerationError } from '../../errors.js';
import type { Redactor } from '../../internal/redact.js';
import { generationFailure, jsonText, PERMANENT_HTTP_STATUSES, safeCause, type ForeignErrorShape } from '../failures.js';
import type { ResolvedOptions } from './options.js';

function statusOf(error: unknown): number | undefined {
  if (APICallError.isInstance(error)) return error.statusCode;
  if (RetryError.isInstance(error)) return statusOf(error.lastError);
  return undefined;
}

/** Failures the next iteration would repeat: bad credentials, a refused request, an unknown model or setting. */
function isPermanentFailure(error: unknown): boolean {
  if (RetryError.isInstance(error)) return isPermanentFailure(error.lastError);
  const status = statusOf(error);
  if (status !== undefined) return PERMANENT_HTTP_STATUSES.has(status);
  return (
    LoadAPIKeyError.isInstance(error) ||
    NoSuchModelError.isInstance(error) ||
    UnsupportedFunctionalityError.isInstance(error) ||
    InvalidArgumentError.isInstance(error)
  );
}

function describeError(error: unknown): string {
  const status = statusOf(error);
  let message: string;
  if (error instanceof Error) message = error.message;
  else if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
    // An error chunk inside a 200 stream arrives as the server's plain `{ message, type, code }`.
    const { message: text, type } = error as { message: string; type?: unknown };
    message = typeof type === 'string' && type ? `${type}: ${text}` : text;
  } else message = typeof error === 'string' ? error : bodyText(error) || String(error);
  if (status === undefined || message.startsWith(String(status))) return message;
  return `${status} ${message}`;
}

/** A response body or request as text: a string as it is, anything else as JSON. */
function bodyText(value: unknown): string {
  return typeof value === 'string' ? value : jsonText(value);
}

/** Where the SDK's errors may quote a secret: the response body, the request sent, the last error a RetryError wraps. */
const AI_SDK_ERROR_SHAPE: ForeignErrorShape = {
  nonError: (value, redactor) => (typeof value === 'string' || (value && typeof value === 'object') ? redactor.value(value) : value),
  bodies: (error) => {
    const fields = error as unknown as Record<string, unknown>;
    return [bodyText(fields.responseBody), bodyText(fields.requestBodyValues)];
  },
  wrapped: (error) => (RetryError.isInstance(error) ? error.lastError : error.cause),
  fields: ['statusCode', 'isRetryable', 'url', 'reason'],
};

export function toGenerationError(error: unknown, usage: Usage, provider: string, redactor: Redactor): GenerationError {
  return generationFailure(
    {
      what: `The ${provider} model call failed`,
      detail: describeError(error),
      permanent: isPermanentFailure(error),
      usage,
      cause: safeCause(error, redactor, AI_SDK_ERROR_SHAPE),
    },
    redactor,
  );
}

/** The SDK stopped the stream without our signal: one of its timeouts fired. Retryable. */
export function timeoutError(options: ResolvedOptions, usage: Usage): GenerationError {
  const limits = [`chunkTimeoutMs ${options.chunkTimeoutMs}`];
  if (options.timeoutMs !== undefined) limits.unshift(`timeoutMs ${options.timeoutMs}`);
  return new GenerationError(`The model call timed out (${limits.join(', ')})`, { retryable: true, usage });
}
