import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import type { PTCStreamItem } from '../events.js';
import { PlanValidationError, PTCAbortError, isPTCError } from '../errors.js';
import { durationMs } from '../internal/validate.js';
import { type Plan, type PlanInput, parsePlan } from '../plan.js';

/** What the helpers need of an agent: `PTCAgent` has it, and so does a wrapper of yours. */
export interface SSESource {
  stream(plan: PlanInput | Plan, options?: { signal?: AbortSignal }): AsyncIterable<PTCStreamItem>;
  /** `PTCAgent.validatePlan`: validation whose errors are scrubbed of the agent's secrets. */
  validatePlan?(plan: PlanInput | Plan): Plan;
}

export interface SSEOptions {
  /** Cancels the run (the stream then ends with the `cancelled` bundle). Pass the request's signal where the server has one. */
  signal?: AbortSignal;
  /** Added to (and overriding) the SSE headers, e.g. CORS. */
  headers?: ConstructorParameters<typeof Headers>[0];
  /**
   * A comment line (`: keepalive`) is sent when nothing else was for this long, so proxies and
   * load balancers with idle timeouts keep the connection while the model thinks. `0` turns it off.
   * @default 15000
   */
  keepAliveMs?: number;
}

const DEFAULT_KEEP_ALIVE_MS = 15_000;

/** The headers every SSE response gets; `x-accel-buffering` stops nginx from holding events back. */
const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

/**
 * One Server-Sent Event: `event: <type>` and one `data:` line of JSON. JSON.stringify never emits a
 * raw line break, but it passes U+2028/U+2029 through, which older JavaScript parsers and some
 * line splitters treat as line ends; they are escaped so each event stays exactly two lines.
 */
export function formatSSEEvent(type: string, data: unknown): string {
  const json = JSON.stringify(data).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  // An event name with a line break would start a field of its own: hostile names are flattened.
  const name = type.replace(/[\r\n]/g, ' ');
  return `event: ${name}\ndata: ${json}\n\n`;
}

/**
 * The run of `plan` as a stream of Server-Sent Events: one event per item of
 * `agent.stream(plan)` (`event:` the item's type, `data:` the item as JSON, a `PTCStreamItem`),
 * ending after the `bundle` event. Cancelling the stream — which servers do when the client goes away — aborts the run, so
 * the sandbox is closed and the concurrency slot freed. The plan must already be valid (see
 * `toSSEResponse`, which checks it). An error the run throws becomes a last `error` event
 * (`{ code, message }`).
 */
export function toSSEStream(agent: SSESource, plan: PlanInput | Plan, options: SSEOptions = {}): ReadableStream<Uint8Array> {
  const keepAliveMs = resolveKeepAlive(options.keepAliveMs);
  const encoder = new TextEncoder();
  const abort = new AbortController();
  const detach = follow(options.signal, abort);
  let iterator: AsyncIterator<PTCStreamItem> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let sentSinceTick = true;
  const finish = () => {
    closed = true;
    clearInterval(timer);
    detach();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        // The first bytes go out at once: clients and proxies see a live stream before the first event.
        controller.enqueue(encoder.encode(': ptc-agent\n\n'));
        iterator = agent.stream(plan, { signal: abort.signal })[Symbol.asyncIterator]();
        if (keepAliveMs === 0) return;
        timer = setInterval(() => {
          if (!closed && !sentSinceTick) controller.enqueue(encoder.encode(': keepalive\n\n'));
          sentSinceTick = false;
        }, keepAliveMs);
        // A keepalive alone must not hold a process open that has nothing else to do.
        timer.unref();
      },
      async pull(controller) {
        let step: IteratorResult<PTCStreamItem>;
        try {
          step = await iterator!.next();
        } catch (error) {
          if (closed) return;
          controller.enqueue(encoder.encode(formatSSEEvent('error', errorData(error))));
          finish();
          controller.close();
          return;
        }
        if (closed) return;
        if (step.done) {
          finish();
          controller.close();
          return;
        }
        controller.enqueue(encoder.encode(formatSSEEvent(step.value.type, step.value)));
        sentSinceTick = true;
      },
      async cancel(reason) {
        finish();
        abort.abort(new PTCAbortError(`the client went away${reason instanceof Error ? ` (${reason.message})` : ''}`));
        // Lets the iterator run its cleanup; the abort above makes the run end promptly.
        await iterator?.return?.();
      },
    },
    // Pull one item at a time: an event waits in the run's queue, not in ours, until the client reads.
    { highWaterMark: 0 },
  );
}

/**
 * A `Response` of Server-Sent Events for the run of `plan` (see `toSSEStream`): return it from a
 * Hono, Next.js or any Fetch-API handler. The plan is checked first: an invalid plan is a
 * `400` with `{ error: { code: 'PLAN_INVALID', message, issues } }` and no run starts.
 */
export function toSSEResponse(agent: SSESource, plan: PlanInput | Plan, options: SSEOptions = {}): Response {
  let parsed: Plan;
  try {
    // The agent's own validation when it has one: the 400 goes to a client, and a plan can carry a
    // secret in a field name that validation would quote.
    parsed = agent.validatePlan ? agent.validatePlan(plan) : parsePlan(plan);
  } catch (error) {
    if (!(error instanceof PlanValidationError)) throw error;
    return Response.json({ error: { code: error.code, message: error.message, issues: error.issues } }, { status: 400, headers: options.headers ?? {} });
  }
  const headers = new Headers(SSE_HEADERS);
  for (const [name, value] of new Headers(options.headers ?? {})) headers.set(name, value);
  return new Response(toSSEStream(agent, parsed, options), { status: 200, headers });
}

/**
 * Sends the run of `plan` as Server-Sent Events on a `node:http` (or Express) response, and
 * cancels the run when the connection closes — there, writes to a closed connection do not fail,
 * so nothing else would notice. Resolves once the response has ended or the client has gone.
 */
export async function sendSSE(response: ServerResponse, agent: SSESource, plan: PlanInput | Plan, options: SSEOptions = {}): Promise<void> {
  const gone = new AbortController();
  const onClose = () => gone.abort(new PTCAbortError('the client went away'));
  response.once('close', onClose);
  const detach = follow(options.signal, gone);
  const sse = toSSEResponse(agent, plan, { ...options, signal: gone.signal });
  try {
    response.writeHead(sse.status, Object.fromEntries(sse.headers));
    if (sse.body === null) {
      response.end();
      return;
    }
    // pipeline destroys the source when the response closes early, which cancels the stream (and the run).
    await pipeline(Readable.fromWeb(sse.body as NodeReadableStream<Uint8Array>), response).catch((error: unknown) => {
      if (!gone.signal.aborted) throw error;
    });
  } finally {
    response.off('close', onClose);
    detach();
  }
}

function resolveKeepAlive(value: number | undefined): number {
  // 0 turns the keepalive off.
  return durationMs('keepAliveMs', value, DEFAULT_KEEP_ALIVE_MS, 0);
}

/** Aborts `target` when `source` aborts (AbortSignal.any needs Node 20.3); returns the unsubscribe. */
function follow(source: AbortSignal | undefined, target: AbortController): () => void {
  if (source === undefined) return () => {};
  const onAbort = () => target.abort(source.reason);
  if (source.aborted) {
    onAbort();
    return () => {};
  }
  source.addEventListener('abort', onAbort, { once: true });
  return () => source.removeEventListener('abort', onAbort);
}

/** Only a PTCError's code and message go on the wire: a foreign error's message may hold anything. */
function errorData(error: unknown): { code: string; message: string } {
  if (isPTCError(error)) return { code: error.code, message: error.message };
  return { code: 'INTERNAL', message: 'the run failed unexpectedly' };
}
