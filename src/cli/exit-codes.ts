import type { BundleStatus } from '../bundle.js';

/**
 * What `ptc-agent` exits with, so a shell script can branch on the outcome. Stable: part of the
 * CLI's interface. 130 for a cancelled run follows the shell's 128 + SIGINT.
 */
export const EXIT_CODES = {
  /** The tests are green. */
  success: 0,
  /** Something broke that is not the run's outcome: an I/O error writing --out, a bug. */
  error: 1,
  /** Nothing ran: bad flags, an unreadable or invalid plan or script, a missing API key or SDK. */
  usage: 2,
  /** Code was produced but its tests were still red when the iterations or budget ran out. */
  partial_success: 3,
  /** No usable code: generation kept failing. */
  failure: 4,
  /** The run's time ran out (`--timeout-ms`, or the plan's `timeoutMs`). */
  timeout: 5,
  /** Interrupted (Ctrl-C, SIGTERM): the sandbox was closed, the bundle still reported. */
  cancelled: 130,
} as const;

export function exitCodeFor(status: BundleStatus): number {
  return EXIT_CODES[status];
}
