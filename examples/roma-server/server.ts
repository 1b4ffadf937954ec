/**
 * A ROMA-compatible PTC service: Hono on Node, wrapping a PTCAgent. It speaks both clients ROMA
 * ships (see ROMA-CONTRACT.md): `roma_dspy.ptc.PTCClient` (`POST /execute`) and the executor's
 * `roma_dspy.integrations.ptc_client.PTCClient` (`POST /generate`), and shows runs live in a
 * browser at `/`.
 *
 *   npx tsx examples/roma-server/server.ts          # http://127.0.0.1:8001 (PTC_PORT=8002 for ROMA's executor)
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { streamSSE } from 'hono/streaming';
import type { ArtifactBundle, Plan, PTCStreamItem } from '../../src/index.js';
import {
  RomaPlanValidationError,
  RomaStreamTranslator,
  fromRomaGenerateRequest,
  fromRomaPlan,
  parseRomaPlan,
  romaFailureResult,
  sseJson,
  toRomaGenerateResponse,
  toRomaResult,
  type RomaArtifactResult,
} from '../../src/roma/index.js';
import { createAgentFromEnvironment, type AgentSetup, type Environment } from './environment.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
/** The live page; `{{nonce}}` becomes the response's CSP nonce. Read once: it is part of the program. */
const PAGE = readFileSync(new URL('./page.html', import.meta.url), 'utf8');

export interface RomaAppOptions {
  /** Largest accepted request body, in bytes. @default 10485760 (10 MiB) */
  maxBodyBytes?: number;
  /** Deepest JSON nesting accepted in a request body; deeper is a 422. @default 64 */
  maxJsonDepth?: number;
  /**
   * After refusing an oversized body, how long the server keeps reading (and discarding) what the
   * client still sends, so that the client reads the 413 instead of a connection reset, in ms.
   * @default 30000
   */
  drainTimeoutMs?: number;
  /** After refusing an oversized body, how many bytes are read and discarded at most. @default 67108864 (64 MiB) */
  maxDrainBytes?: number;
  /** How long an events stream waits for an execution id that has not started yet, in ms. @default 30000 */
  eventsWaitMs?: number;
  /** Interval of `keepalive` events on an idle events stream, in ms. @default 15000 */
  keepaliveMs?: number;
  /** How long the events of a finished execution can still be replayed, in ms. @default 600000 */
  retentionMs?: number;
  /** Executions whose events are kept at most (the oldest finished ones go first). @default 1000 */
  maxRetainedExecutions?: number;
  /** Events kept per execution; later `generation:progress` events are dropped beyond it. @default 2000 */
  maxEventsPerExecution?: number;
}

interface LoggedEvent {
  id: number;
  event: string;
  /** Epoch ms (from the agent's event, or when the server logged it). */
  timestamp: number;
  payload: Record<string, unknown>;
}

export interface ExecutionSummary {
  execution_id: string;
  endpoint: 'execute' | 'generate';
  task: string;
  started_at: string;
  done: boolean;
  status: string | null;
}

/** The events of one execution id, replayable to late subscribers. */
class ExecutionLog {
  readonly events: LoggedEvent[] = [];
  done = false;
  finishedAt = 0;
  status: string | null = null;
  readonly startedAt = Date.now();
  private waiters = new Set<() => void>();

  constructor(
    readonly executionId: string,
    readonly endpoint: 'execute' | 'generate',
    readonly task: string,
    private readonly maxEvents: number,
  ) {}

  push(event: string, payload: Record<string, unknown>): void {
    // Progress events are the only unbounded kind (a few per second while a model writes).
    if (this.events.length >= this.maxEvents && event === 'generation:progress') return;
    const timestamp = typeof payload.timestamp === 'number' ? payload.timestamp : Date.now();
    this.events.push({ id: this.events.length + 1, event, timestamp, payload });
    this.wake();
  }

  finish(result: RomaArtifactResult, iterations?: unknown[]): void {
    if (iterations) this.push('iterations', { execution_id: this.executionId, iterations });
    this.push('result', result as unknown as Record<string, unknown>);
    this.status = result.status;
    this.done = true;
    this.finishedAt = Date.now();
    this.wake();
  }

  summary(): ExecutionSummary {
    return {
      execution_id: this.executionId,
      endpoint: this.endpoint,
      task: this.task,
      started_at: new Date(this.startedAt).toISOString(),
      done: this.done,
      status: this.status,
    };
  }

  /** Resolves on the next event, when the log finishes, or after `timeoutMs`. */
  next(timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

class ExecutionLogs {
  private readonly logs = new Map<string, ExecutionLog>();
  private readonly arrivals = new Map<string, Set<() => void>>();

  constructor(private readonly options: Required<RomaAppOptions>) {}

  /** The log a new run of `executionId` writes to: a running one is shared (ROMA retries reuse the id). */
  open(executionId: string, endpoint: 'execute' | 'generate', task: string): ExecutionLog {
    this.prune();
    const existing = this.logs.get(executionId);
    if (existing && !existing.done) return existing;
    const log = new ExecutionLog(executionId, endpoint, task.slice(0, 200), this.options.maxEventsPerExecution);
    this.logs.delete(executionId);
    this.logs.set(executionId, log);
    for (const arrived of this.arrivals.get(executionId) ?? []) arrived();
    return log;
  }

  /** The newest executions first. */
  recent(limit: number): ExecutionSummary[] {
    return [...this.logs.values()].slice(-limit).reverse().map((log) => log.summary());
  }

  /** The log of `executionId`, waiting up to `timeoutMs` for its run to start. */
  async find(executionId: string, timeoutMs: number, signal: AbortSignal): Promise<ExecutionLog | undefined> {
    const found = this.logs.get(executionId);
    if (found || timeoutMs <= 0) return found;
    await new Promise<void>((resolve) => {
      const waiters = this.arrivals.get(executionId) ?? new Set();
      this.arrivals.set(executionId, waiters);
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        waiters.delete(done);
        if (waiters.size === 0) this.arrivals.delete(executionId);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      waiters.add(done);
    });
    return this.logs.get(executionId);
  }

  private prune(): void {
    const now = Date.now();
    for (const [id, log] of this.logs) {
      const expired = log.done && now - log.finishedAt > this.options.retentionMs;
      const overfull = this.logs.size >= this.options.maxRetainedExecutions && log.done;
      if (expired || overfull) this.logs.delete(id);
    }
  }
}

function resolveOptions(options: RomaAppOptions): Required<RomaAppOptions> {
  const positive = (name: keyof RomaAppOptions, fallback: number) => {
    const value = options[name] ?? fallback;
    if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${String(value)}`);
    return value;
  };
  return {
    maxBodyBytes: positive('maxBodyBytes', 10 * 1024 * 1024),
    maxJsonDepth: positive('maxJsonDepth', 64),
    drainTimeoutMs: positive('drainTimeoutMs', 30_000),
    maxDrainBytes: positive('maxDrainBytes', 64 * 1024 * 1024),
    eventsWaitMs: positive('eventsWaitMs', 30_000),
    keepaliveMs: positive('keepaliveMs', 15_000),
    retentionMs: positive('retentionMs', 600_000),
    maxRetainedExecutions: positive('maxRetainedExecutions', 1_000),
    maxEventsPerExecution: positive('maxEventsPerExecution', 2_000),
  };
}

/**
 * Whether JSON text nests deeper than `maxDepth`, by scanning it (no recursion): deep enough
 * nesting overflows the stack of every recursive walk after `JSON.parse` (hashing, validation),
 * which would be a 500 that clients retry.
 */
export function jsonNestingExceeds(text: string, maxDepth: number): boolean {
  let depth = 0;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (code === 0x22) {
      // Jump over the string: to the next quote not escaped by an odd run of backslashes.
      let end = index;
      for (;;) {
        end = text.indexOf('"', end + 1);
        if (end === -1) return false; // unterminated: JSON.parse refuses it
        let backslashes = 0;
        while (text.charCodeAt(end - 1 - backslashes) === 0x5c) backslashes += 1;
        if (backslashes % 2 === 0) break;
      }
      index = end;
    } else if (code === 0x7b || code === 0x5b) {
      depth += 1;
      if (depth > maxDepth) return true;
    } else if (code === 0x7d || code === 0x5d) depth -= 1;
  }
  return false;
}

type JsonBody = { ok: true; value: unknown } | { ok: false; response: Response };

/** The request body as JSON, or the 422 FastAPI would answer (not JSON, or nested too deep). */
async function readJson(c: Context, maxDepth: number): Promise<JsonBody> {
  const text = await c.req.text();
  if (jsonNestingExceeds(text, maxDepth)) {
    return { ok: false, response: c.json({ detail: [{ type: 'json_invalid', loc: ['body'], msg: `JSON decode error: nested deeper than ${maxDepth} levels` }] }, 422) };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    // FastAPI's answer to a body that is not JSON.
    return { ok: false, response: c.json({ detail: [{ type: 'json_invalid', loc: ['body', 0], msg: `JSON decode error: ${(error as Error).message}` }] }, 422) };
  }
}

/** The SSE formats of `GET /executions/:id/events`. */
const EVENT_FORMATS = ['ptc', 'roma'] as const;
/** Failing case names the page shows per iteration, at most. */
const MAX_FAILING_NAMES = 20;

/** Per iteration: counts and failing case names (the page shows them; events carry counts only). */
function iterationSummaries(bundle: ArtifactBundle): unknown[] {
  return bundle.iterations.map((record) => {
    const report = record.testReport;
    return {
      iteration: record.iteration,
      passed: report?.passed ?? 0,
      failed: report ? report.failed + report.errored : 0,
      success: report?.success ?? false,
      failing: (report?.cases ?? [])
        .filter((testCase) => testCase.status === 'failed' || testCase.status === 'errored')
        .slice(0, MAX_FAILING_NAMES)
        .map((testCase) => `${testCase.suite ? `${testCase.suite}::` : ''}${testCase.name}`.slice(0, 300)),
      ...(report?.problem ? { problem: report.problem.slice(0, 500) } : {}),
      ...(record.error ? { error: record.error.message.slice(0, 500) } : {}),
    };
  });
}

/** The Hono app. `setup` is the agent and what `/health` says about it. */
export function createRomaApp(setup: AgentSetup, appOptions: RomaAppOptions = {}): Hono {
  const options = resolveOptions(appOptions);
  const logs = new ExecutionLogs(options);
  const { agent, description } = setup;
  const app = new Hono();

  // ROMA's service template allows every origin.
  app.use('*', cors());

  const endpoints = {
    page: 'GET / (Accept: text/html)',
    health: 'GET /health',
    stats: 'GET /stats',
    execute: 'POST /execute',
    generate: 'POST /generate',
    executions: 'GET /executions',
    events: 'GET /executions/{execution_id}/events?format=ptc|roma',
  };

  app.get('/', (c) => {
    c.header('Vary', 'Accept');
    if (!(c.req.header('accept') ?? '').includes('text/html')) {
      return c.json({ service: 'ptc', name: 'ptc-agent ROMA server', version: VERSION, endpoints });
    }
    // Everything the page shows comes from model output: it renders text only (no innerHTML), and
    // the policy allows nothing but its own inline code and requests to this server.
    const nonce = randomBytes(16).toString('base64');
    c.header(
      'Content-Security-Policy',
      `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('Referrer-Policy', 'no-referrer');
    return c.html(PAGE.replaceAll('{{nonce}}', nonce));
  });

  app.get('/health', (c) =>
    c.json({
      status: 'healthy',
      service: 'ptc',
      version: VERSION,
      schemas_available: true,
      // ROMA's executor docs expect `llm_provider`.
      llm_provider: description.generator.kind === 'anthropic' ? 'claude' : description.generator.kind,
      generator: description.generator.kind,
      generator_id: description.generator.id,
      scripted: description.generator.kind === 'scripted',
      runner: description.runner.kind,
      ...(description.runner.isolation ? { isolation: description.runner.isolation } : {}),
      cache: description.cache.kind,
      checkpoints: description.checkpoints.kind,
      max_concurrent_executions: description.maxConcurrentExecutions,
      notices: description.notices,
    }),
  );

  app.get('/stats', (c) => {
    const stats = agent.stats();
    return c.json({
      total_executions: stats.total,
      successful_executions: stats.succeeded,
      failed_executions: stats.failed,
      cache_hits: stats.cacheHits,
      active_executions: stats.inFlight,
      queued_executions: stats.queued,
      total_tokens: stats.tokens,
      total_cost_usd: stats.costUsd,
      generator_calls: setup.generatorCalls(),
      p50_duration_seconds: stats.p50DurationMs / 1_000,
      p95_duration_seconds: stats.p95DurationMs / 1_000,
    });
  });

  app.get('/executions', (c) => c.json({ executions: logs.recent(50) }));

  type Answer = { status: 200 | 500 | 502 | 503 | 504; body: unknown };
  const inFlight = new Map<string, Promise<Answer>>();
  /** ROMA's client retries a timed-out request with the very same body: the retry joins the run in flight. */
  const once = (route: string, text: string, run: () => Promise<Answer>): Promise<Answer> => {
    const requestKey = createHash('sha256').update(route).update('\0').update(text).digest('hex');
    let pending = inFlight.get(requestKey);
    if (!pending) {
      pending = run().finally(() => inFlight.delete(requestKey));
      inFlight.set(requestKey, pending);
    }
    return pending;
  };

  /**
   * Runs a plan, logging its events under ROMA's id. Payloads carry ROMA's id as `executionId`
   * (the agent's own id, which may differ when ROMA's does not fit our rules, is `ptcExecutionId`).
   */
  const runLogged = async (
    plan: Plan,
    log: ExecutionLog,
    toResult: (bundle: ArtifactBundle) => RomaArtifactResult,
    started: Date,
  ): Promise<{ bundle?: ArtifactBundle; result: RomaArtifactResult; error?: string }> => {
    try {
      let bundle: ArtifactBundle | undefined;
      for await (const item of agent.stream(plan)) {
        if (item.type === 'bundle') bundle = item.bundle;
        else log.push(item.type, { ...eventPayload(item), executionId: log.executionId, ptcExecutionId: item.executionId });
      }
      const result = bundle ? toResult(bundle) : romaFailureResult(log.executionId, 'the run ended without a result', started);
      log.finish(result, bundle ? iterationSummaries(bundle) : undefined);
      return bundle ? { bundle, result } : { result };
    } catch (error) {
      // Only a bug gets here (the agent resolves every run with a bundle).
      const message = error instanceof Error ? error.message : String(error);
      log.finish(romaFailureResult(log.executionId, `Execution failed: ${message}`, started));
      return { result: romaFailureResult(log.executionId, `Execution failed: ${message}`, started), error: message };
    }
  };

  const limit = bodyLimit({
    maxSize: options.maxBodyBytes,
    onError: (c) => c.json({ detail: `Request body larger than ${options.maxBodyBytes} bytes` }, 413),
  });

  app.post('/execute', limit, async (c) => {
    const started = new Date();
    const body = await readJson(c, options.maxJsonDepth);
    if (!body.ok) return body.response;
    let romaPlan;
    let plan;
    try {
      romaPlan = parseRomaPlan(body.value);
      plan = fromRomaPlan(romaPlan);
    } catch (error) {
      if (error instanceof RomaPlanValidationError) return c.json({ detail: error.detail }, 422);
      throw error;
    }
    const answer = await once('execute', JSON.stringify(body.value), async () => {
      const log = logs.open(romaPlan.execution_id, 'execute', romaPlan.scaffolding.task_description);
      const outcome = await runLogged(plan, log, (bundle) => toRomaResult(bundle, { plan: romaPlan }), started);
      // 5xx only for a bug: ROMA's client retries it.
      return outcome.error !== undefined ? { status: 500, body: { detail: `Execution failed: ${outcome.error}` } } : { status: 200, body: outcome.result };
    });
    return c.json(answer.body, answer.status);
  });

  app.post('/generate', limit, async (c) => {
    const started = new Date();
    const body = await readJson(c, options.maxJsonDepth);
    if (!body.ok) return body.response;
    const executionId = `generate-${randomUUID()}`;
    let plan: Plan;
    try {
      plan = fromRomaGenerateRequest(body.value, { executionId });
    } catch (error) {
      if (error instanceof RomaPlanValidationError) return c.json({ detail: error.detail }, 422);
      throw error;
    }
    const answer = await once('generate', JSON.stringify(body.value), async () => {
      const log = logs.open(executionId, 'generate', plan.taskDescription);
      const outcome = await runLogged(plan, log, (bundle) => toRomaResult(bundle), started);
      if (!outcome.bundle) return { status: 500, body: { detail: `Execution failed: ${outcome.error ?? 'no result'}` } };
      const response = toRomaGenerateResponse(outcome.bundle);
      return { status: response.httpStatus, body: response.body };
    });
    c.header('X-PTC-Execution-Id', (answer.body as { execution_id?: string }).execution_id ?? executionId);
    return c.json(answer.body, answer.status);
  });

  app.get('/executions/:id/events', (c) => {
    const executionId = c.req.param('id').trim();
    const format = c.req.query('format') ?? 'ptc';
    if (!(EVENT_FORMATS as readonly string[]).includes(format)) {
      return c.json({ detail: [{ type: 'enum', loc: ['query', 'format'], msg: "Input should be 'ptc' or 'roma'" }] }, 422);
    }
    const roma = format === 'roma' ? new RomaStreamTranslator(executionId) : undefined;
    return streamSSE(c, async (stream) => {
      const closed = new AbortController();
      stream.onAbort(() => closed.abort());
      // ROMA's messages carry their type inside: no `event:` field, so EventSource `onmessage` and
      // Python readers get every message.
      const send = async (event: string, payload: unknown, id?: number) => {
        if (closed.signal.aborted) return;
        if (roma) await stream.writeSSE({ data: sseJson(payload), ...(id !== undefined ? { id: String(id) } : {}) });
        else await stream.writeSSE({ event, data: sseJson(payload), ...(id !== undefined ? { id: String(id) } : {}) });
      };
      if (!roma) await send('connected', { execution_id: executionId });
      const log = await logs.find(executionId, options.eventsWaitMs, closed.signal);
      if (!log) {
        await send('error', roma ? roma.error('Execution not found') : { execution_id: executionId, error: 'Execution not found' });
        return;
      }
      if (roma) await send('connected', roma.connected());
      let sent = 0;
      while (!closed.signal.aborted) {
        while (sent < log.events.length) {
          const entry = log.events[sent]!;
          sent += 1;
          if (!roma) await send(entry.event, entry.payload, entry.id);
          else if (entry.event === 'result') await send(entry.event, roma.result(entry.payload as unknown as RomaArtifactResult, entry.timestamp), entry.id);
          else {
            const message = roma.event(entry.event, entry.payload);
            if (message) await send(entry.event, message, entry.id);
          }
        }
        if (log.done) break;
        const before = log.events.length;
        await log.next(options.keepaliveMs, closed.signal);
        if (log.events.length === before && !log.done) await send('keepalive', roma ? roma.keepalive() : { execution_id: executionId });
      }
    });
  });

  app.notFound((c) => c.json({ detail: 'Not Found' }, 404));
  app.onError((error, c) => c.json({ detail: `Internal error: ${error.message}` }, 500));
  return app;
}

/** A stream item without its `type` (it becomes the SSE event name). */
function eventPayload(item: Exclude<PTCStreamItem, { type: 'bundle' }>): Record<string, unknown> {
  const { type: _type, ...payload } = item;
  return payload;
}

// ---------------------------------------------------------------------------------------------
// Node's side: request bodies

/**
 * Answers 413 and keeps reading (discarding) what the client still sends, ending the response
 * once the body is over. Closing a socket with unread data makes the kernel send a reset, and a
 * client that sends its whole body before reading (Python's httpx, so ROMA) then sees
 * "connection reset" instead of the 413 — and retries. Draining is bounded in time and bytes;
 * past either the socket is destroyed (that client has had the 413 on the wire all along).
 */
function refuseTooLarge(request: IncomingMessage, response: ServerResponse, options: Required<RomaAppOptions>, alreadyRead: number): void {
  const body = JSON.stringify({ detail: `Request body larger than ${options.maxBodyBytes} bytes` });
  response.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
  // Sent now: a client reading while it sends (curl) stops early.
  response.write(body);
  let drained = alreadyRead;
  let settled = false;
  const settle = (destroy: boolean) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    request.off('data', onData);
    response.end();
    if (destroy) request.socket.destroy();
  };
  const onData = (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > options.maxDrainBytes) settle(true);
  };
  const timer = setTimeout(() => settle(true), options.drainTimeoutMs);
  request.on('data', onData);
  request.once('end', () => settle(false));
  request.once('error', () => settle(true));
  request.once('close', () => settle(false));
  request.resume();
}

function declaredLength(request: IncomingMessage): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined) return undefined;
  const length = Number(header);
  return Number.isSafeInteger(length) && length >= 0 ? length : undefined;
}

/**
 * The Node request listener: GET and HEAD go straight to Hono (event streams must not be
 * buffered); other requests have their body read here, capped, before Hono sees it. An oversized
 * `Content-Length` is refused before a byte of the body is read; a chunked body is refused the
 * moment it passes the limit. Both without a connection reset (see `refuseTooLarge`).
 */
export function createRomaRequestListener(app: Hono, appOptions: RomaAppOptions = {}): (request: IncomingMessage, response: ServerResponse) => void {
  const options = resolveOptions(appOptions);
  const streaming = getRequestListener(app.fetch);
  return (request, response) => {
    if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') {
      void streaming(request, response);
      return;
    }
    const declared = declaredLength(request);
    if (declared !== undefined && declared > options.maxBodyBytes) {
      refuseTooLarge(request, response, options, 0);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= options.maxBodyBytes) {
        chunks.push(chunk);
        return;
      }
      refused = true;
      request.off('data', onData);
      chunks.length = 0;
      refuseTooLarge(request, response, options, size);
    };
    request.on('data', onData);
    request.once('end', () => {
      if (refused) return;
      void dispatch(app, request, response, Buffer.concat(chunks, size));
    });
    // A client that goes away mid-body gets no answer: there is no one to read it.
    request.once('error', () => request.off('data', onData));
  };
}

/** Hands a fully read request to Hono and writes its (non-streaming) answer. */
async function dispatch(app: Hono, request: IncomingMessage, response: ServerResponse, body: Buffer): Promise<void> {
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || name === 'transfer-encoding' || name === 'content-length') continue;
      for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
    }
    headers.set('content-length', String(body.length));
    const url = new URL(request.url ?? '/', `http://${request.headers.host ?? 'localhost'}`);
    const answer = await app.fetch(new Request(url, { method: request.method ?? 'POST', headers, body }));
    const payload = Buffer.from(await answer.arrayBuffer());
    const outgoing: Record<string, string> = {};
    answer.headers.forEach((value, name) => {
      outgoing[name] = value;
    });
    outgoing['content-length'] = String(payload.length);
    if (!response.destroyed) response.writeHead(answer.status, outgoing).end(payload);
  } catch (error) {
    if (response.headersSent || response.destroyed) return;
    const payload = JSON.stringify({ detail: `Internal error: ${error instanceof Error ? error.message : String(error)}` });
    response.writeHead(500, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }).end(payload);
  }
}

export interface StartOptions {
  /** @default process.env */
  env?: Environment;
  /** @default PTC_PORT, else 8001 (0 picks a free port). ROMA's executor (`PTCExecutor`) calls 8002 unless configured. */
  port?: number;
  /** @default PTC_HOST, else '127.0.0.1' (the service has no authentication) */
  hostname?: string;
  app?: RomaAppOptions;
  onWarning?: (message: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  setup: AgentSetup;
  server: Server;
  /** Stops listening, ends open event streams, and closes the agent's connections. */
  close(): Promise<void>;
}

/** `PTC_PORT`, else 8001 (ROMA's `PTCClient` default; its executor's client defaults to 8002). */
function portFrom(env: Environment): number {
  const raw = env.PTC_PORT;
  if (raw === undefined || raw === '') return 8001;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new TypeError(`PTC_PORT must be a port number, got ${JSON.stringify(raw)}`);
  return port;
}

export async function startRomaServer(options: StartOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const port = options.port ?? portFrom(env);
  const hostname = options.hostname ?? env.PTC_HOST ?? '127.0.0.1';
  const setup = await createAgentFromEnvironment(env, options.onWarning ? { onWarning: options.onWarning } : {});
  let server: Server;
  try {
    const app = createRomaApp(setup, options.app);
    const listener = createRomaRequestListener(app, options.app);
    server = createServer(listener);
    // An oversized body announced with `Expect: 100-continue` is refused before the client sends it.
    const maxBodyBytes = options.app?.maxBodyBytes ?? 10 * 1024 * 1024;
    server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
      const declared = declaredLength(request);
      if (declared === undefined || declared <= maxBodyBytes) response.writeContinue();
      listener(request, response);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, hostname, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await setup.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = hostname === '0.0.0.0' || hostname === '::' ? '127.0.0.1' : hostname;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`,
    port: address.port,
    setup,
    server,
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          // Event streams stay open until their run ends: do not wait for them.
          server.closeAllConnections();
        });
        await setup.close();
      })();
      return closing;
    },
  };
}

// Run directly: `npx tsx examples/roma-server/server.ts`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const running = await startRomaServer();
  const { description } = running.setup;
  console.log(`ptc-agent ROMA server on ${running.url}`);
  console.log(`  generator: ${description.generator.id}${description.generator.kind === 'scripted' ? ' (SCRIPTED, no model is called)' : ''}`);
  console.log(`  runner: ${description.runner.id}${description.runner.isolation ? ` (isolation: ${description.runner.isolation})` : ''}, cache: ${description.cache.kind}, checkpoints: ${description.checkpoints.kind}`);
  for (const notice of description.notices) console.log(`  ! ${notice}`);
  const stop = (signal: string) => {
    console.log(`\n${signal}: shutting down`);
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}
