import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer, readJsonBody, sendJson, writeSseStream } from './sse-server.js';

/**
 * A local stand-in for the Anthropic Messages API, speaking the wire protocol of
 * @anthropic-ai/sdk 1.12.0 (SDK-NOTES.md §1.8): `POST /v1/messages`, Bearer auth, the
 * `anthropic-version` header, SSE with an `event:` line per message, error bodies of the form
 * `{"type":"error","error":{…}}`.
 *
 * Replies are scripted per request (a FIFO queue). Every request is recorded with its headers and
 * parsed body, and its shape is checked rather than trusted: a request that breaks a rule the real
 * API enforces (or that our generator promises) is answered 400 `invalid_request_error`, as the API
 * would, and its problems are kept in `problems`.
 */

export interface SseEvent {
  event: string;
  data: unknown;
}

export type FakeReply =
  | {
      kind: 'stream';
      events: SseEvent[];
      /** Destroy the socket after writing this many events (a dropped connection). */
      dropAfter?: number;
      /** Stop writing after this many events and keep the connection open (a stalled stream). */
      hangAfter?: number;
      headers?: Record<string, string>;
    }
  | { kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Destroy the socket before any response (a connection error at request start). */
  | { kind: 'drop' }
  /** Accept the request and never answer. */
  | { kind: 'hang' };

export type ScriptedReply = FakeReply | ((request: RecordedRequest) => FakeReply);

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (`undefined` when it did not parse). */
  body: any;
  /** Shape violations found in this request. */
  problems: string[];
}

export interface FakeAnthropicServerOptions {
  /** The only key the fake accepts (`authorization: Bearer <apiKey>`). */
  apiKey: string;
  /**
   * Models that answer a forced tool choice with a 400, as Claude Sonnet 5.5, Opus 5.5 and
   * Fable 5.1 do. Requests for any other model must force `write_files`.
   * @default ['claude-sonnet-5-5', 'claude-opus-5-5', 'claude-fable-5-1']
   */
  modelsRejectingForcedToolChoice?: readonly string[];
}

export class FakeAnthropicServer {
  readonly requests: RecordedRequest[] = [];
  private readonly queue: ScriptedReply[] = [];
  private readonly rejectingForced: ReadonlySet<string>;

  private constructor(
    private readonly server: LoopbackServer,
    readonly url: string,
    private readonly options: FakeAnthropicServerOptions,
  ) {
    this.rejectingForced = new Set(options.modelsRejectingForcedToolChoice ?? ['claude-sonnet-5-5', 'claude-opus-5-5', 'claude-fable-5-1']);
  }

  static async start(options: FakeAnthropicServerOptions): Promise<FakeAnthropicServer> {
    let instance: FakeAnthropicServer | undefined;
    const server = await LoopbackServer.start(async (request, response) => instance?.handle(request, response));
    instance = new FakeAnthropicServer(server, server.origin, options);
    return instance;
  }

  /** Queue replies for the next requests, in order. */
  enqueue(...replies: ScriptedReply[]): this {
    this.queue.push(...replies);
    return this;
  }

  get pending(): number {
    return this.queue.length;
  }

  /** Every shape problem of every request so far. */
  get problems(): string[] {
    return this.requests.flatMap((request, index) => request.problems.map((problem) => `request ${index + 1}: ${problem}`));
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readJsonBody(request);
    const recorded: RecordedRequest = {
      method: request.method ?? '',
      path: request.url ?? '',
      headers: request.headers,
      body,
      problems: [],
    };
    this.requests.push(recorded);

    if (request.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      // The real API does not say which key it got; neither does the fake.
      return sendError(response, 401, 'authentication_error', 'invalid x-api-key');
    }
    recorded.problems.push(...checkShape(recorded));
    if (recorded.problems.length > 0) {
      return sendError(response, 400, 'invalid_request_error', `fake: ${recorded.problems.join('; ')}`);
    }
    const forced = body.tool_choice?.type === 'tool' || body.tool_choice?.type === 'any';
    if (this.rejectingForced.has(body.model)) {
      if (forced) {
        return sendError(response, 400, 'invalid_request_error', `tool_choice: forced tool use is not supported by ${body.model}; use tool_choice auto`);
      }
      if (body.tool_choice?.type !== 'auto') recorded.problems.push(`tool_choice must be auto for ${body.model}, got ${JSON.stringify(body.tool_choice)}`);
    } else if (!(body.tool_choice?.type === 'tool' && body.tool_choice?.name === 'write_files')) {
      recorded.problems.push(`tool_choice must force write_files, got ${JSON.stringify(body.tool_choice)}`);
    }
    if (recorded.problems.length > 0) {
      return sendError(response, 400, 'invalid_request_error', `fake: ${recorded.problems.join('; ')}`);
    }

    const scripted = this.queue.shift();
    if (!scripted) {
      recorded.problems.push('no scripted reply left');
      return sendError(response, 500, 'api_error', 'fake: no scripted reply left', { 'x-should-retry': 'false' });
    }
    const reply = typeof scripted === 'function' ? scripted(recorded) : scripted;
    switch (reply.kind) {
      case 'drop':
        request.socket.destroy();
        return;
      case 'hang':
        return;
      case 'error':
        sendJson(response, reply.status, reply.body ?? { type: 'error', error: { type: 'api_error', message: 'Internal server error' } }, {
          'request-id': `req_${this.requests.length}`,
          ...reply.headers,
        });
        return;
      case 'stream':
        return streamEvents(request, response, reply, this.requests.length);
    }
  }
}

function checkShape(request: RecordedRequest): string[] {
  const problems: string[] = [];
  const { headers, body } = request;
  if (request.method !== 'POST' || request.path !== '/v1/messages') problems.push(`expected POST /v1/messages, got ${request.method} ${request.path}`);
  if (typeof headers['anthropic-version'] !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(headers['anthropic-version'])) {
    problems.push('anthropic-version header missing or malformed');
  }
  if (!String(headers['content-type'] ?? '').startsWith('application/json')) problems.push('content-type must be application/json');
  if (headers['x-api-key'] !== undefined) problems.push('x-api-key must not be sent next to Bearer auth');
  if (!body || typeof body !== 'object') return [...problems, 'body is not a JSON object'];
  if (body.stream !== true) problems.push('expected a streaming request (stream: true)');
  if (typeof body.model !== 'string' || body.model === '') problems.push('model must be a non-empty string');
  if (!Number.isInteger(body.max_tokens) || body.max_tokens < 1) problems.push('max_tokens must be a positive integer');
  for (const field of ['temperature', 'top_p', 'top_k']) {
    if (field in body) problems.push(`${field} is not part of the 2026-10-21 API`);
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) problems.push('messages must be a non-empty array');
  else if (body.messages[0]?.role !== 'user') problems.push('the first message must be from the user');

  const tools: any[] = Array.isArray(body.tools) ? body.tools : [];
  const writeFiles = tools.find((tool) => tool?.name === 'write_files');
  if (!writeFiles) problems.push('tools must include write_files');
  else {
    const schema = writeFiles.input_schema;
    if (schema?.type !== 'object') problems.push('write_files.input_schema must be an object schema');
    if (schema?.properties?.files?.type !== 'array') problems.push('write_files.input_schema.properties.files must be an array');
    const item = schema?.properties?.files?.items;
    for (const field of ['path', 'content', 'kind']) {
      if (!item?.properties?.[field] || !item?.required?.includes(field)) problems.push(`write_files file items must require ${field}`);
    }
    if (!schema?.required?.includes('files')) problems.push('write_files must require files');
  }
  const breakpoints = countCacheControl(body);
  if (breakpoints > 4) problems.push(`at most 4 cache_control breakpoints are allowed, got ${breakpoints}`);
  return problems;
}

function countCacheControl(value: unknown): number {
  if (Array.isArray(value)) return value.reduce<number>((sum, item) => sum + countCacheControl(item), 0);
  if (value && typeof value === 'object') {
    let count = 0;
    for (const [key, item] of Object.entries(value)) count += key === 'cache_control' && item ? 1 : countCacheControl(item);
    return count;
  }
  return 0;
}

async function streamEvents(request: IncomingMessage, response: ServerResponse, reply: Extract<FakeReply, { kind: 'stream' }>, requestNumber: number): Promise<void> {
  const frames = reply.events.map((event) => `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`);
  await writeSseStream(request, response, frames, {
    headers: { 'request-id': `req_${requestNumber}`, ...reply.headers },
    ...(reply.dropAfter !== undefined ? { dropAfter: reply.dropAfter } : {}),
    ...(reply.hangAfter !== undefined ? { hangAfter: reply.hangAfter } : {}),
  });
}

function sendError(response: ServerResponse, status: number, type: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(response, status, { type: 'error', error: { type, message } }, { 'x-should-retry': 'false', ...headers });
}

// ---------------------------------------------------------------------------------------------
// Event builders

export interface FakeUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

export function messageStart(model: string, usage: FakeUsage): SseEvent {
  return {
    event: 'message_start',
    data: {
      type: 'message_start',
      message: {
        id: 'msg_fake',
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        // message_start reports the input side and a token or so of output; message_delta the totals.
        usage: {
          input_tokens: usage.input_tokens,
          output_tokens: 1,
          cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
          cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
        },
      },
    },
  };
}

export function ping(): SseEvent {
  return { event: 'ping', data: { type: 'ping' } };
}

export function textBlock(index: number, text: string): SseEvent[] {
  return [
    { event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'text', text: '' } } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'text_delta', text } } },
    { event: 'content_block_stop', data: { type: 'content_block_stop', index } },
  ];
}

/** An adaptive-thinking block, as Sonnet 5.x streams it before answering. */
export function thinkingBlock(index: number, thinking: string): SseEvent[] {
  return [
    { event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking } } },
    { event: 'content_block_delta', data: { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: 'c2lnbmF0dXJl' } } },
    { event: 'content_block_stop', data: { type: 'content_block_stop', index } },
  ];
}

/** A tool_use block whose input JSON arrives in `chunkSize`-character deltas. */
export function toolUseBlock(index: number, name: string, input: unknown, chunkSize = 64, rawJson?: string): SseEvent[] {
  const json = rawJson ?? JSON.stringify(input);
  const events: SseEvent[] = [
    { event: 'content_block_start', data: { type: 'content_block_start', index, content_block: { type: 'tool_use', id: `toolu_${index}`, name, input: {} } } },
  ];
  for (let offset = 0; offset < json.length; offset += chunkSize) {
    events.push({
      event: 'content_block_delta',
      data: { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json.slice(offset, offset + chunkSize) } },
    });
  }
  events.push({ event: 'content_block_stop', data: { type: 'content_block_stop', index } });
  return events;
}

export function messageDelta(stopReason: string, usage: FakeUsage): SseEvent {
  return {
    event: 'message_delta',
    data: {
      type: 'message_delta',
      delta: { stop_reason: stopReason, stop_sequence: null },
      usage: {
        output_tokens: usage.output_tokens,
        input_tokens: usage.input_tokens,
        cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
        cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
      },
    },
  };
}

export function messageStop(): SseEvent {
  return { event: 'message_stop', data: { type: 'message_stop' } };
}

export function errorEvent(type: string, message: string): SseEvent {
  return { event: 'error', data: { type: 'error', error: { type, message } } };
}

export interface WriteFilesStreamOptions {
  model?: string;
  usage?: FakeUsage;
  /** Characters of tool input per delta. @default 64 */
  chunkSize?: number;
  /** @default 'tool_use' */
  stopReason?: string;
  /** Text before the tool call (as a model in `auto` mode might write). */
  preamble?: string;
  /** A thinking block first (adaptive thinking). */
  thinking?: string;
  /** Send this raw JSON instead of `JSON.stringify(input)` (e.g. a truncated document). */
  rawJson?: string;
}

/** A complete, well-formed answer that calls write_files with `input`. */
export function writeFilesStream(input: unknown, options: WriteFilesStreamOptions = {}): SseEvent[] {
  const usage = options.usage ?? { input_tokens: 1_000, output_tokens: 200 };
  const model = options.model ?? 'claude-sonnet-5';
  const blocks: SseEvent[] = [];
  let index = 0;
  if (options.thinking !== undefined) {
    blocks.push(...thinkingBlock(index, options.thinking));
    index += 1;
  }
  if (options.preamble !== undefined) {
    blocks.push(...textBlock(index, options.preamble));
    index += 1;
  }
  blocks.push(...toolUseBlock(index, 'write_files', input, options.chunkSize ?? 64, options.rawJson));
  return [messageStart(model, usage), ping(), ...blocks, messageDelta(options.stopReason ?? 'tool_use', usage), messageStop()];
}

/** A complete answer with text only (no tool call). */
export function textStream(text: string, options: { model?: string; usage?: FakeUsage; stopReason?: string } = {}): SseEvent[] {
  const usage = options.usage ?? { input_tokens: 1_000, output_tokens: 50 };
  return [messageStart(options.model ?? 'claude-sonnet-5', usage), ...textBlock(0, text), messageDelta(options.stopReason ?? 'end_turn', usage), messageStop()];
}
