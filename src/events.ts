import type { ArtifactBundle, BundleStatus, ErrorInfo, StopReason, Usage } from './bundle.js';

interface Base {
  executionId: string;
  /** Epoch milliseconds. */
  timestamp: number;
}

/**
 * `candidate` (1-based) is set on the events of iteration 1 when the plan asks for several
 * candidates, saying which one each belongs to; it is absent otherwise.
 */
export interface CandidateTag {
  candidate?: number;
}

/**
 * Every event the agent emits, by name. Payloads are plain JSON-safe objects, so a server can
 * forward them as Server-Sent Events unchanged. Events observe a run; they never replace a
 * rejection or a bundle.
 */
export interface PTCEventMap {
  'run:queued': Base & { queued: number };
  'run:start': Base & { language: string; maxIterations: number; generator: string; runner: string };
  'cache:hit': Base & { cacheKey: string; source: 'cache' | 'in-flight' };
  'cache:miss': Base & { cacheKey: string };
  'sandbox:ready': Base & { sandboxId: string; runner: string; durationMs: number; dependencies: number } & CandidateTag;
  'dependencies:installed': Base & { count: number; durationMs: number; reused: boolean } & CandidateTag;
  'generation:start': Base & { iteration: number } & CandidateTag;
  'generation:progress': Base & { iteration: number; outputTokens: number; message?: string } & CandidateTag;
  'generation:end': Base & { iteration: number; files: number; usage: Usage; durationMs: number; error?: ErrorInfo } & CandidateTag;
  'tests:start': Base & { iteration: number; command: string } & CandidateTag;
  /**
   * Output of the test command while it runs (emitted only when someone listens): chunks of one
   * stream coalesced to at most one event per `testOutput.throttleMs`, scrubbed of secrets, each at
   * most `testOutput.maxCharsPerEvent` (a longer burst loses its middle), and no more than
   * `testOutput.maxCharsPerRun` over the run. `truncated` marks the event after which the run's
   * output stops being forwarded. Runners that cannot stream deliver it when the command ends.
   */
  'tests:output': Base & { iteration: number; stream: 'stdout' | 'stderr'; chunk: string; truncated?: boolean } & CandidateTag;
  'tests:end': Base & { iteration: number; passed: number; failed: number; errored: number; skipped: number; success: boolean; durationMs: number } & CandidateTag;
  'iteration:end': Base & { iteration: number; passed: number; failed: number; success: boolean; error?: ErrorInfo } & CandidateTag;
  /**
   * The plan's candidates (`plan.candidates` above 1) are all tested or given up: `candidate` goes
   * on alone (0 when none produced files), the other sessions are closed.
   */
  'candidates:chosen': Base & { candidate: number; candidates: number; passed: number; failed: number; success: boolean };
  warning: Base & { code: string; message: string };
  'run:end': Base & { status: BundleStatus; stopReason: StopReason; durationMs: number; fromCache: boolean; usage: Usage };
}

export type PTCEventName = keyof PTCEventMap;

/** One item of `PTCAgent.stream()`: every event of the run, then the bundle. */
export type PTCStreamItem =
  | { [Name in PTCEventName]: { type: Name } & PTCEventMap[Name] }[PTCEventName]
  | { type: 'bundle'; bundle: ArtifactBundle };

/** Event names in the order a run can emit them; handy for forwarding all of them. */
export const EVENT_NAMES: readonly PTCEventName[] = [
  'run:queued',
  'run:start',
  'cache:hit',
  'cache:miss',
  'sandbox:ready',
  'dependencies:installed',
  'generation:start',
  'generation:progress',
  'generation:end',
  'tests:start',
  'tests:output',
  'tests:end',
  'iteration:end',
  'candidates:chosen',
  'warning',
  'run:end',
];

/** The listener form eventemitter3 expects. */
export type PTCEmitterEvents = { [Name in PTCEventName]: [payload: PTCEventMap[Name]] };
