import type { Usage } from '../bundle.js';
import { GenerationError } from '../errors.js';
import type { Redactor } from '../internal/redact.js';

/**
 * What every SDK-backed generator does with its SDK's failures: say whether the next iteration
 * would repeat them, turn them into one `GenerationError`, and keep secrets out of the foreign
 * error kept as `cause`. Each adapter supplies what only its SDK knows (status, message, fields).
 */

/**
 * HTTP statuses that the next iteration would repeat: bad credentials, a refused or malformed
 * request, an unknown model, a prompt too large. Everything else (429, 5xx, network) is worth
 * another iteration once the SDK's own retries are spent.
 */
export const PERMANENT_HTTP_STATUSES: ReadonlySet<number> = new Set([400, 401, 402, 403, 404, 413, 422, 431]);

/** A failure of the model call (not of the answer), as the run sees it. */
export function generationFailure(
  input: { what: string; detail: string; permanent: boolean; usage: Usage; cause: unknown },
  redactor: Redactor,
): GenerationError {
  const retryable = !input.permanent;
  const suffix = retryable ? '' : ' (not retried: fix the request, credentials or model)';
  return new GenerationError(redactor.text(`${input.what}: ${input.detail}${suffix}`), {
    retryable,
    usage: input.usage,
    cause: input.cause,
  });
}

/** Where an SDK's errors may quote a secret, and what a stand-in keeps of them. */
export interface ForeignErrorShape {
  /** A thrown value that is not an `Error`, made safe. */
  nonError(value: unknown, redactor: Redactor): unknown;
  /** Texts besides message and stack that may quote a secret (a response body, the request sent). */
  bodies(error: Error): string[];
  /** The error it wraps, made safe in turn. */
  wrapped(error: Error): unknown;
  /** Fields a stand-in keeps (strings redacted), so a caller can still branch on them. */
  fields: readonly string[];
}

/** The foreign error as `cause`, unless it carries a secret; then a redacted stand-in. */
export function safeCause(error: unknown, redactor: Redactor, shape: ForeignErrorShape): unknown {
  if (!(error instanceof Error)) return shape.nonError(error, redactor);
  if (redactor.size === 0) return error;
  const texts = [error.message, error.stack ?? '', ...shape.bodies(error)];
  const nested = shape.wrapped(error);
  const nestedSafe = nested === undefined ? undefined : safeCause(nested, redactor, shape);
  if (texts.every((text) => redactor.text(text) === text) && nestedSafe === nested) return error;
  const standIn = new Error(redactor.text(error.message), nestedSafe === undefined ? undefined : { cause: nestedSafe });
  standIn.name = error.name;
  if (error.stack) standIn.stack = redactor.text(error.stack);
  for (const key of shape.fields) {
    const value: unknown = (error as unknown as Record<string, unknown>)[key];
    if (value !== undefined) Object.defineProperty(standIn, key, { value: typeof value === 'string' ? redactor.text(value) : value, enumerable: true });
  }
  return standIn;
}

/** JSON of a value for a secret check; '' for what has none (undefined, a cycle). */
export function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}
