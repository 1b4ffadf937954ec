import type { ArtifactBundle, BundleStatus, ErrorInfo, StopReason, Usage } from './bundle.js';

interface Base {
  executionId: string;
  /** Epoch milliseconds. */
  timestamp: number;
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
  'sandbox:ready': Base & { sandboxId: string; runner: string; durationMs: number; dependencies: number };
  'dependencies:installed': Base & { count: number; durationMs: number; reused: boolean };
  'generation:start': Base & { iteration: number };
  'generation:progress': Base & { iteration: number; outputTokens: number; message?: string };
  'generation:end': Base & { iteration: number; files: number; usage: Usage; durationMs: number; error?: ErrorInfo };
  'tests:start': Base & { iteration: number; command: string };
  'tests:end': Base & { iteration: number; passed: number; failed: number; errored: number; skipped: number; success: boolean; durationMs: number };
  'iteration:end': Base & { iteration: number; passed: number; failed: number; success: boolean; error?: ErrorInfo };
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
  'tests:end',
  'iteration:end',
  'warning',
  'run:end',
];

/** The listener form eventemitter3 expects. */
export type PTCEmitterEvents = { [Name in PTCEventName]: [payload: PTCEventMap[Name]] };
