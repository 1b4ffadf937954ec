/**
 * A ROMA-compatible PTC service: Hono on Node, wrapping a PTCAgent, speaking the `/execute`
 * contract of ROMA's `roma_dspy.ptc.PTCClient` (see ROMA-CONTRACT.md).
 *
 *   npx tsx examples/roma-server/server.ts          # http://127.0.0.1:8001
 *
 * Endpoints: `GET /`, `GET /health`, `GET /stats`, `POST /execute` (422 with FastAPI-style field
 * errors for an invalid plan, 200 with the result whatever its status), and
 * `GET /executions/:id/events` (the run's events as Server-Sent Events).
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { streamSSE } from 'hono/streaming';
import type { PTCStreamItem } from '../../src/events.js';
import type { Plan } from '../../src/plan.js';
import { fromRomaPlan, parseRomaPlan, romaFailureResult, RomaPlanValidationError, toRomaResult, type RomaArtifactResult, type RomaExecutionPlan } from '../../src/roma/index.js';
import { createAgentFromEnvironment, type AgentSetup, type Environment } from './environment.js';

const VERSION = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

export interface RomaAppOptions {
  /** Largest accepted request body, in bytes. @default 10485760 (10 MiB) */
  maxBodyBytes?: number;
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
  data: string;
}

/** The events of one execution id, replayable to late subscribers. */
class ExecutionLog {
  readonly events: LoggedEvent[] = [];
  done = false;
  finishedAt = 0;
  private waiters = new Set<() => void>();

  constructor(private readonly maxEvents: number) {}

  push(event: string, payload: unknown): void {
    // Progress events are the only unbounded kind (a few per second while a model writes).
    if (this.events.length >= this.maxEvents && event === 'generation:progress') return;
    this.events.push({ id: this.events.length + 1, event, data: JSON.stringify(payload) });
    this.wake();
  }

  finish(result: RomaArtifactResult): void {
    this.push('result', result);
    this.done = true;
    this.finishedAt = Date.now();
    this.wake();
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
  open(executionId: string): ExecutionLog {
    this.prune();
    const existing = this.logs.get(executionId);
    if (existing && !existing.done) return existing;
    const log = new ExecutionLog(this.options.maxEventsPerExecution);
    this.logs.delete(executionId);
    this.logs.set(executionId, log);
    for (const arrived of this.arrivals.get(executionId) ?? []) arrived();
    return log;
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
    eventsWaitMs: positive('eventsWaitMs', 30_000),
    keepaliveMs: positive('keepaliveMs', 15_000),
    retentionMs: positive('retentionMs', 600_000),
    maxRetainedExecutions: positive('maxRetainedExecutions', 1_000),
    maxEventsPerExecution: positive('maxEventsPerExecution', 2_000),
  };
}

/** The Hono app. `setup` is the agent and what `/health` says about it. */
export function createRomaApp(setup: AgentSetup, appOptions: RomaAppOptions = {}): Hono {
  const options = resolveOptions(appOptions);
  const logs = new ExecutionLogs(options);
  const { agent, description } = setup;
  const app = new Hono();

  // ROMA's service template allows every origin.
  app.use('*', cors());

  app.get('/', (c) =>
    c.json({
      service: 'ptc',
      name: 'ptc-agent ROMA server',
      version: VERSION,
      endpoints: {
        health: 'GET /health',
        stats: 'GET /stats',
        execute: 'POST /execute',
        events: 'GET /executions/{execution_id}/events',
      },
    }),
  );

  app.get('/health', (c) =>
    c.json({
      status: 'healthy',
      service: 'ptc',
      version: VERSION,
      schemas_available: true,
      generator: description.generator.kind,
      generator_id: description.generator.id,
      scripted: description.generator.kind === 'scripted',
      runner: description.runner.kind,
      ...(description.runner.isolation ? { isolation: description.runner.isolation } : {}),
      cache: description.cache.kind,
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

  const inFlight = new Map<string, Promise<{ status: 200 | 500; body: unknown }>>();
  const runPlan = async (plan: Plan, romaPlan: RomaExecutionPlan, started: Date): Promise<{ status: 200 | 500; body: unknown }> => {
    const log = logs.open(romaPlan.execution_id);
    try {
      let result: RomaArtifactResult | undefined;
      for await (const item of agent.stream(plan)) {
        if (item.type === 'bundle') result = toRomaResult(item.bundle, { plan: romaPlan });
        else log.push(item.type, eventPayload(item));
      }
      result ??= romaFailureResult(romaPlan.execution_id, 'the run ended without a result', started);
      log.finish(result);
      return { status: 200, body: result };
    } catch (error) {
      // Only a bug gets here (the agent resolves every run with a bundle). 5xx: ROMA retries it.
      const message = error instanceof Error ? error.message : String(error);
      log.finish(romaFailureResult(romaPlan.execution_id, `Execution failed: ${message}`, started));
      return { status: 500, body: { detail: `Execution failed: ${message}` } };
    }
  };

  app.post(
    '/execute',
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: (c) => c.json({ detail: `Request body larger than ${options.maxBodyBytes} bytes` }, 413),
    }),
    async (c) => {
      const started = new Date();
      const text = await c.req.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        // FastAPI's answer to a body that is not JSON.
        return c.json({ detail: [{ type: 'json_invalid', loc: ['body', 0], msg: `JSON decode error: ${(error as Error).message}` }] }, 422);
      }
      let romaPlan;
      let plan;
      try {
        romaPlan = parseRomaPlan(body);
        plan = fromRomaPlan(romaPlan);
      } catch (error) {
        if (error instanceof RomaPlanValidationError) return c.json({ detail: error.detail }, 422);
        throw error;
      }
      // ROMA's client retries a request that timed out with the very same body: the retry waits
      // for the run already in flight instead of paying for a second one (the agent's own single
      // flight covers identical plans too, but not under cache_strategy "never").
      const requestKey = createHash('sha256').update(text).digest('hex');
      let pending = inFlight.get(requestKey);
      if (!pending) {
        pending = runPlan(plan, romaPlan, started).finally(() => inFlight.delete(requestKey));
        inFlight.set(requestKey, pending);
      }
      const answer = await pending;
      return c.json(answer.body, answer.status);
    },
  );

  app.get('/executions/:id/events', (c) => {
    const executionId = c.req.param('id').trim();
    return streamSSE(c, async (stream) => {
      const closed = new AbortController();
      stream.onAbort(() => closed.abort());
      await stream.writeSSE({ event: 'connected', data: JSON.stringify({ execution_id: executionId }) });
      const log = await logs.find(executionId, options.eventsWaitMs, closed.signal);
      if (!log) {
        if (!closed.signal.aborted) await stream.writeSSE({ event: 'error', data: JSON.stringify({ execution_id: executionId, error: 'Execution not found' }) });
        return;
      }
      let sent = 0;
      while (!closed.signal.aborted) {
        while (sent < log.events.length) {
          const entry = log.events[sent]!;
          sent += 1;
          await stream.writeSSE({ id: String(entry.id), event: entry.event, data: entry.data });
        }
        if (log.done) break;
        const before = log.events.length;
        await log.next(options.keepaliveMs, closed.signal);
        if (log.events.length === before && !log.done && !closed.signal.aborted) {
          await stream.writeSSE({ event: 'keepalive', data: JSON.stringify({ execution_id: executionId }) });
        }
      }
    });
  });

  app.notFound((c) => c.json({ detail: 'Not Found' }, 404));
  app.onError((error, c) => c.json({ detail: `Internal error: ${error.message}` }, 500));
  return app;
}

/** A stream item without its `type` (it becomes the SSE event name), with the ROMA execution id. */
function eventPayload(item: Exclude<PTCStreamItem, { type: 'bundle' }>): Record<string, unknown> {
  const { type: _type, ...payload } = item;
  return payload;
}

export interface StartOptions {
  /** @default process.env */
  env?: Environment;
  /** @default PTC_PORT, else 8001 (0 picks a free port) */
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
  server: ServerType;
  /** Stops listening, ends open event streams, and closes the agent's connections. */
  close(): Promise<void>;
}

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
  let server: ServerType;
  try {
    const app = createRomaApp(setup, options.app);
    server = await new Promise<ServerType>((resolve, reject) => {
      const listening = serve({ fetch: app.fetch, port, hostname }, () => resolve(listening));
      listening.once('error', reject);
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
          if ('closeAllConnections' in server) server.closeAllConnections();
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
  console.log(`  runner: ${description.runner.id}${description.runner.isolation ? ` (isolation: ${description.runner.isolation})` : ''}, cache: ${description.cache.kind}`);
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
