import type { ErrorInfo } from '../bundle.js';
import type { ResumePoint } from '../checkpoint-state.js';
import type { Cache } from '../contracts/cache.js';
import type { SandboxFile } from '../contracts/sandbox-runner.js';
import { type ErrorCode, PTCError } from '../errors.js';
import type { PTCEventMap, PTCEventName } from '../events.js';
import { normalizeRelativePath } from '../internal/paths.js';
import type { Redactor } from '../internal/redact.js';
import { trimMiddle } from '../internal/text.js';
import type { ResolvedOptions } from '../options.js';
import type { Plan } from '../plan.js';
import type { TestPreset } from '../reports/presets.js';

/** Where a run's events go: the agent's listeners and the run's stream, if any. */
export interface EventSink {
  /** Whether anyone listens: payloads are not even built for nobody. */
  observed(name: PTCEventName): boolean;
  emit<Name extends PTCEventName>(name: Name, payload: PTCEventMap[Name]): void;
}

/** The agent's concurrency limit, as a run sees it. */
export interface RunQueue {
  /** Whether `acquire` would wait now, and how many already do. */
  readonly full: boolean;
  readonly waiting: number;
  acquire(signal: AbortSignal): Promise<() => void>;
  /**
   * A further slot for the same run (a plan's extra candidates), only if one is free now and no
   * run waits: it never waits, so a run holding a slot cannot deadlock waiting for another.
   */
  tryAcquire(): (() => void) | undefined;
}

export interface RunInput {
  readonly cache: Cache | undefined;
  readonly queue: RunQueue;
  readonly callerSignal: AbortSignal | undefined;
  /** When the run's clock already started (a twin that waited for a leader first). */
  readonly deadline: number | undefined;
  /** Receives cleanup that outlives the run (a sandbox still opening), for a graceful shutdown to await. */
  readonly linger?: (cleanup: Promise<void>) => void;
  /** A checkpoint `agent.resume` already loaded and checked. */
  readonly resume?: ResumePoint;
}

/** Longest message kept in a warning, an error or a problem told to the model. */
export const MAX_MESSAGE_CHARS = 2_000;

/**
 * Everything one run reads, in one object: the plan, its preset and cache key, the agent's
 * options, the redactor, and an emitter bound to the run. Events stop at `seal()`, which the run
 * calls before it hands its bundle back: nothing follows `run:end`.
 */
export class RunContext {
  readonly acceptanceFiles: readonly SandboxFile[];
  /** Paths the model may read but never write. */
  readonly protectedPaths: ReadonlySet<string>;
  readonly warnings: string[] = [];
  /** What is left of `testOutput.maxCharsPerRun` for this run's `tests:output` events. */
  testOutputCharsLeft: number;
  private sealed = false;

  constructor(
    readonly plan: Plan,
    readonly preset: TestPreset,
    readonly key: string | undefined,
    readonly options: ResolvedOptions,
    readonly redactor: Redactor,
    private readonly sink: EventSink,
  ) {
    this.acceptanceFiles = plan.acceptanceTests.map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
    this.protectedPaths = new Set(this.acceptanceFiles.map((file) => file.path));
    this.testOutputCharsLeft = options.testOutput.maxCharsPerRun;
  }

  get timeoutMs(): number {
    return this.plan.timeoutMs ?? this.options.defaultTimeoutMs;
  }

  /** Whether an event of that name would reach anyone now: work only it needs can be skipped. */
  observed(name: PTCEventName): boolean {
    return !this.sealed && this.sink.observed(name);
  }

  emit<Name extends PTCEventName>(name: Name, fields: Omit<PTCEventMap[Name], 'executionId' | 'timestamp'>): void {
    if (this.sealed || !this.sink.observed(name)) return;
    this.sink.emit(name, { executionId: this.plan.executionId, timestamp: Date.now(), ...fields } as PTCEventMap[Name]);
  }

  /** A warning goes into the bundle and out as an event, scrubbed and bounded; none after the seal. */
  warn(code: string, message: string): void {
    if (this.sealed) return;
    // Scrubbed before it is cut, so a cut can never leave half a secret behind.
    const safe = trimMiddle(this.redactor.text(message), MAX_MESSAGE_CHARS).text;
    this.warnings.push(safe);
    this.emit('warning', { code, message: safe });
  }

  /** Error details as records, events and bundles keep them: scrubbed and bounded. */
  errorInfo(error: unknown, fallback: ErrorCode): ErrorInfo {
    return this.info(error instanceof PTCError ? error.code : fallback, error instanceof Error ? error.message : String(error));
  }

  /** An error record with our own message, scrubbed and bounded. */
  info(code: ErrorCode, message: string, maxChars = MAX_MESSAGE_CHARS): ErrorInfo {
    return { code, message: trimMiddle(this.redactor.text(message), maxChars).text };
  }

  seal(): void {
    this.sealed = true;
  }
}
