/**
 * Server-Sent Events for ROMA's clients: JSON safe for Python line readers, and ROMA's
 * `StreamMessage` shape (`roma_dspy.ptc.streaming`, PR #81) built from our events.
 */
import { randomUUID } from 'node:crypto';
import type { PTCEventMap, PTCEventName } from '../events.js';
import { formatNaiveUtc } from './pydantic-fields.js';
import type { RomaArtifactResult } from './schemas.js';

/**
 * `JSON.stringify` for an SSE `data:` line. JSON escapes every control character below U+0020,
 * but leaves U+0085 (NEL), U+2028 and U+2029 raw; Python readers that split lines like
 * `str.splitlines` (httpx's `aiter_lines`, httpx-sse 0.4.0) cut an event there. They can only
 * occur inside JSON strings, where `\uXXXX` means the same character.
 */
export function sseJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0085\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `StreamEventType` values, as ROMA spells them. */
export const ROMA_STREAM_EVENT_TYPES = [
  'connected',
  'disconnected',
  'execution_started',
  'execution_completed',
  'execution_failed',
  'progress',
  'stage_started',
  'stage_completed',
  'validation_started',
  'validation_passed',
  'validation_failed',
  'validation_warning',
  'code_generating',
  'code_generated',
  'code_block_ready',
  'test_started',
  'test_passed',
  'test_failed',
  'error',
  'warning',
] as const;
export type RomaStreamEventType = (typeof ROMA_STREAM_EVENT_TYPES)[number];

/** ROMA's `StreamMessage`, every field present as pydantic's `model_dump_json()` prints it. */
export interface RomaStreamMessage {
  /** A UUID per message. */
  id: string;
  event_type: RomaStreamEventType;
  /** ISO 8601 with `+00:00`, as `datetime.now(timezone.utc).isoformat()`. */
  timestamp: string;
  execution_id: string | null;
  stage: string | null;
  /** 0 to 1. */
  progress: number | null;
  message: string | null;
  data: Record<string, unknown> | null;
  error: string | null;
}

/** `datetime.now(timezone.utc).isoformat()`: microseconds only when not 0, and `+00:00`. */
export function romaStreamTimestamp(epochMs: number = Date.now()): string {
  const date = new Date(Number.isFinite(epochMs) ? epochMs : Date.now());
  return `${formatNaiveUtc(date)}+00:00`;
}

/** Statuses that end a ROMA stream with `execution_completed`; the others end it with `execution_failed`. */
const COMPLETED_STATUSES = new Set(['SUCCESS', 'PARTIAL_SUCCESS', 'CACHE_HIT']);

type Payload<Name extends PTCEventName> = Omit<PTCEventMap[Name], 'executionId'> & Record<string, unknown>;

/**
 * Turns one execution's events into ROMA `StreamMessage`s. One translator per stream: it
 * tracks the iteration budget to report `progress` (0 → 1, never going back).
 */
export class RomaStreamTranslator {
  private maxIterations = 1;
  private progress = 0;

  /** @param executionId ROMA's id, put in every message whatever id the agent used. */
  constructor(private readonly executionId: string) {}

  connected(): RomaStreamMessage {
    return this.message('connected', { message: 'Connected to execution stream' });
  }

  /** ROMA's keepalive: a `progress` message without a value. */
  keepalive(): RomaStreamMessage {
    return this.message('progress', { message: 'Waiting for updates...' });
  }

  error(error: string): RomaStreamMessage {
    return this.message('error', { error, message: `Error: ${error}` });
  }

  /** The last message: `execution_completed` or `execution_failed`, with the result as `data`. */
  result(result: RomaArtifactResult, epochMs?: number): RomaStreamMessage {
    this.progress = 1;
    const completed = COMPLETED_STATUSES.has(result.status);
    return this.message(completed ? 'execution_completed' : 'execution_failed', {
      epochMs,
      stage: 'completed',
      progress: 1,
      message: `Execution ${completed ? 'completed' : 'failed'}: ${result.status}`,
      data: result as unknown as Record<string, unknown>,
      error: completed ? null : (result.error_message ?? result.status),
    });
  }

  /** One of our events as a ROMA message, or undefined for events ROMA has no use for. */
  event(name: string, payload: Record<string, unknown>): RomaStreamMessage | undefined {
    const epochMs = typeof payload.timestamp === 'number' ? payload.timestamp : undefined;
    const at = (iterationsDone: number) => this.advance(iterationsDone / this.maxIterations);
    switch (name) {
      case 'run:queued': {
        const event = payload as Payload<'run:queued'>;
        return this.message('progress', { epochMs, stage: 'queued', progress: this.progress, message: `Queued behind ${event.queued} run(s)` });
      }
      case 'run:start': {
        const event = payload as Payload<'run:start'>;
        if (Number.isSafeInteger(event.maxIterations) && event.maxIterations > 0) this.maxIterations = event.maxIterations;
        return this.message('execution_started', {
          epochMs,
          stage: 'started',
          progress: this.progress,
          message: `Execution started: ${event.language}, up to ${event.maxIterations} iteration(s)`,
          data: { language: event.language, max_iterations: event.maxIterations, generator: event.generator, runner: event.runner },
        });
      }
      case 'cache:hit':
      case 'cache:miss':
        return this.message('progress', { epochMs, stage: 'cache', progress: this.progress, message: name === 'cache:hit' ? 'Cache hit' : 'Cache miss' });
      case 'sandbox:ready': {
        const event = payload as Payload<'sandbox:ready'>;
        return this.message('stage_completed', { epochMs, stage: 'sandbox', progress: this.progress, message: 'Sandbox ready', data: { runner: event.runner, dependencies: event.dependencies } });
      }
      case 'dependencies:installed': {
        const event = payload as Payload<'dependencies:installed'>;
        return this.message('stage_completed', { epochMs, stage: 'dependencies', progress: this.progress, message: `${event.count} dependencies installed`, data: { count: event.count } });
      }
      case 'generation:start': {
        const event = payload as Payload<'generation:start'>;
        return this.message('code_generating', { epochMs, stage: 'generation', progress: at(event.iteration - 1), message: `Generating code (${where(event)})`, data: { ...which(event) } });
      }
      case 'generation:progress': {
        const event = payload as Payload<'generation:progress'>;
        return this.message('progress', { epochMs, stage: 'generation', progress: this.progress, message: `${event.outputTokens} tokens written`, data: { ...which(event), output_tokens: event.outputTokens } });
      }
      case 'generation:end': {
        const event = payload as Payload<'generation:end'>;
        const progress = at(event.iteration - 0.5);
        if (event.error) return this.message('error', { epochMs, stage: 'generation', progress, message: `Generation failed (${where(event)})`, error: event.error.message, data: { ...which(event) } });
        return this.message('code_generated', { epochMs, stage: 'generation', progress, message: `${event.files} file(s) generated (${where(event)})`, data: { ...which(event), files: event.files } });
      }
      case 'tests:start': {
        const event = payload as Payload<'tests:start'>;
        return this.message('test_started', { epochMs, stage: 'testing', progress: this.progress, message: `Running tests (${where(event)})`, data: { ...which(event), command: event.command } });
      }
      case 'tests:end': {
        const event = payload as Payload<'tests:end'>;
        return this.message(event.success ? 'test_passed' : 'test_failed', {
          epochMs,
          stage: 'testing',
          progress: at(event.iteration),
          message: `${event.passed} passed, ${event.failed + event.errored} failed (${where(event)})`,
          data: { ...which(event), passed: event.passed, failed: event.failed, errored: event.errored, skipped: event.skipped },
        });
      }
      case 'iteration:end': {
        const event = payload as Payload<'iteration:end'>;
        return this.message('stage_completed', {
          epochMs,
          stage: 'iteration',
          progress: at(event.iteration),
          message: `${capitalized(where(event))} ${event.success ? 'green' : 'red'}`,
          data: { ...which(event), passed: event.passed, failed: event.failed, success: event.success },
          error: event.error?.message ?? null,
        });
      }
      case 'warning': {
        const event = payload as Payload<'warning'>;
        return this.message('warning', { epochMs, progress: this.progress, message: event.message, data: { code: event.code } });
      }
      default:
        // run:end is followed by the result, which ends ROMA's stream with more to say.
        return undefined;
    }
  }

  private advance(fraction: number): number {
    if (Number.isFinite(fraction)) this.progress = Math.min(1, Math.max(this.progress, fraction));
    return this.progress;
  }

  private message(
    eventType: RomaStreamEventType,
    fields: { epochMs?: number | undefined; stage?: string | null; progress?: number | null; message?: string | null; data?: Record<string, unknown> | null; error?: string | null },
  ): RomaStreamMessage {
    return {
      id: randomUUID(),
      event_type: eventType,
      timestamp: romaStreamTimestamp(fields.epochMs),
      execution_id: this.executionId,
      stage: fields.stage ?? null,
      progress: fields.progress ?? null,
      message: fields.message ?? null,
      data: fields.data ?? null,
      error: fields.error ?? null,
    };
  }
}

/** How a message names an iteration: `iteration 2`, or `iteration 1, candidate 3` for one of a plan's candidates. */
function where(event: { iteration: number; candidate?: number }): string {
  return event.candidate === undefined ? `iteration ${event.iteration}` : `iteration ${event.iteration}, candidate ${event.candidate}`;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The `data` fields naming an iteration (and its candidate, when it is one). */
function which(event: { iteration: number; candidate?: number }): { iteration: number; candidate?: number } {
  return event.candidate === undefined ? { iteration: event.iteration } : { iteration: event.iteration, candidate: event.candidate };
}
