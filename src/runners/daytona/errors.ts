/**
 * How the Daytona SDK's failures are told apart.
 * Daytona's errors are recognised by name and status rather than `instanceof`: an injected client
 * may come from the other module format (CJS vs ESM) of the SDK, whose classes differ from ours.
 */
export function errorName(error: unknown): string {
  return error instanceof Error ? error.name : '';
}

export function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

export function isConnectionError(error: unknown): boolean {
  const name = errorName(error);
  return name === 'DaytonaConnectionError' || name === 'DaytonaConnectionTimeoutError';
}

export function isNotFound(error: unknown): boolean {
  return statusOf(error) === 404 || /NotFoundError$/.test(errorName(error));
}

export function isConflict(error: unknown): boolean {
  return statusOf(error) === 409 || errorName(error) === 'DaytonaConflictError';
}

/** The daemon killed a command at its timeout (HTTP 408), as opposed to a client-side deadline. */
export function isProcessTimeout(error: unknown): boolean {
  if (isConnectionError(error)) return false;
  return errorName(error) === 'DaytonaProcessExecutionTimeoutError' || statusOf(error) === 408;
}

/** Failures after which repeating an idempotent call is safe and may succeed. */
export function isTransient(error: unknown): boolean {
  const status = statusOf(error);
  return isConnectionError(error) || status === 429 || status === 502 || status === 503 || status === 504;
}

