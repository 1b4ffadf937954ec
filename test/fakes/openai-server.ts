import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackServer, readJsonBody, sendJson, writeSseStream } from './sse-server.js';

/**
 * A local stand-in for the OpenAI chat-completions API as Ollama, vLLM, LM Studio and llama.cpp's
 * server speak it (SDK-NOTES.md §7): `POST /v1/chat/completions`, Bearer auth, SSE as `data:`
 * lines of `chat.completion.chunk` objects ending with `data: [DONE]`, tool-call arguments
 * streamed as string fragments, and usage only when the request asks for it with
 * `stream_options: { include_usage: true }` — in an extra chunk with `choices: []` after the
 * finish chunk (OpenAI, vLLM) or on the finish chunk itself (llama.cpp). Errors are
 * `{"error":{"message","type","code"}}` with an HTTP status.
 *
 * Replies are scripted per request (a FIFO queue). Every request is recorded with its headers,
 * parsed body and whether the client closed the connection before the reply ended; its shape is
 * checked, and a request that breaks a rule is answered 400 with its problems kept in `problems`.
 */

export interface FakeChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens?: number;
}

export type FakeReply =
  | {
      kind: 'stream';
      /** Chunk objects (sent as `data: <json>`) or raw strings (sent as `data: <string>`). */
      chunks: unknown[];
      /** Sent only if the request set `stream_options.include_usage`, as real servers do. */
      usage?: FakeChatUsage;
      /** `separate`: an extra `choices: []` chunk after the finish chunk (OpenAI, vLLM); `finish`: on the finish chunk (llama.cpp). @default 'separate' */
      usagePlacement?: 'separate' | 'finish';
      /** Destroy the socket after writing this many chunks (a dropped connection). */
      dropAfter?: number;
      /** Stop writing after this many chunks and keep the connection open (a stalled stream). */
      hangAfter?: number;
      /** Wait this long between chunks. @default 0 (one event-loop turn) */
      chunkDelayMs?: number;
      headers?: Record<string, string>;
    }
  | { kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Destroy the socket before any response. */
  | { kind: 'drop' };

export type ScriptedReply = FakeReply | ((request: RecordedRequest) => FakeReply);

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body (`undefined` when it did not parse). */
  body: any;
  problems: string[];
  /** True once the client closed the connection before the reply was complete (an abort). */
  closedEarly: boolean;
  /** Resolves when the connection of this request has closed, for whatever reason. */
  closed: Promise<void>;
}

export interface FakeOpenAIServerOptions {
  /** The only key the fake accepts (`authorization: Bearer <apiKey>`). */
  apiKey: string;
  /** Whether requests must force `write_files` with `tool_choice`. @default true */
  requireForcedToolChoice?: boolean;
}

export class FakeOpenAIServer {
  readonly requests: RecordedRequest[] = [];
  private readonly queue: ScriptedReply[] = [];

  private constructor(
    private readonly server: LoopbackServer,
    /** The base URL to give a provider, ending in `/v1`. */
    readonly baseURL: string,
    private readonly options: FakeOpenAIServerOptions,
  ) {}

  static async start(options: FakeOpenAIServerOptions): Promise<FakeOpenAIServer> {
    let instance: FakeOpenAIServer | undefined;
    const server = await LoopbackServer.start(async (request, response) => instance?.handle(request, response));
    instance = new FakeOpenAIServer(server, `${server.origin}/v1`, options);
    return instance;
  }

  enqueue(...replies: ScriptedReply[]): this {
    this.queue.push(...replies);
    return this;
  }

  get pending(): number {
    return this.queue.length;
  }

  get problems(): string[] {
    return this.requests.flatMap((request, index) => request.problems.map((problem) => `request ${index + 1}: ${problem}`));
  }

  async close(): Promise<void> {
    await this.server.close();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    let markClosed: () => void = () => {};
    const closed = new Promise<void>((resolve) => {
      markClosed = resolve;
    });
    const body = await readJsonBody(request);
    const recorded: RecordedRequest = { method: request.method ?? '', path: request.url ?? '', headers: request.headers, body, problems: [], closedEarly: false, closed };
    this.requests.push(recorded);
    response.on('close', () => {
      if (!response.writableFinished) recorded.closedEarly = true;
      markClosed();
    });

    if (request.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      return sendError(response, 401, 'invalid_request_error', 'Incorrect API key provided.', 'invalid_api_key');
    }
    recorded.problems.push(...checkShape(recorded, this.options.requireForcedToolChoice ?? true));
    if (recorded.problems.length > 0) {
      return sendError(response, 400, 'invalid_request_error', `fake: ${recorded.problems.join('; ')}`, null);
    }
    const scripted = this.queue.shift();
    if (!scripted) {
      recorded.problems.push('no scripted reply left');
      return sendError(response, 500, 'server_error', 'fake: no scripted reply left', null);
    }
    const reply = typeof scripted === 'function' ? scripted(recorded) : scripted;
    switch (reply.kind) {
      case 'drop':
        request.socket.destroy();
        return;
      case 'error':
        sendJson(response, reply.status, reply.body ?? { error: { message: 'The server had an error', type: 'server_error', code: null } }, reply.headers);
        return;
      case 'stream':
        return streamChunks(request, response, reply, body?.stream_options?.include_usage === true);
    }
  }
}

function checkShape(request: RecordedRequest, requireForced: boolean): string[] {
  const problems: string[] = [];
  const { headers, body } = request;
  if (request.method !== 'POST' || request.path !== '/v1/chat/completions') problems.push(`expected POST /v1/chat/completions, got ${request.method} ${request.path}`);
  if (!String(headers['content-type'] ?? '').startsWith('application/json')) problems.push('content-type must be application/json');
  if (!body || typeof body !== 'object') return [...problems, 'body is not a JSON object'];
  if (body.stream !== true) problems.push('expected a streaming request (stream: true)');
  if (body.stream_options !== undefined && JSON.stringify(body.stream_options) !== '{"include_usage":true}') {
    problems.push(`unexpected stream_options ${JSON.stringify(body.stream_options)}`);
  }
  if (typeof body.model !== 'string' || body.model === '') problems.push('model must be a non-empty string');
  if (body.max_tokens !== undefined && (!Number.isInteger(body.max_tokens) || body.max_tokens < 1)) problems.push('max_tokens must be a positive integer');
  if (!Array.isArray(body.messages) || body.messages.length === 0) problems.push('messages must be a non-empty array');
  else {
    for (const [index, message] of body.messages.entries()) {
      if (!['system', 'user', 'assistant', 'tool'].includes(message?.role)) problems.push(`messages[${index}].role is ${JSON.stringify(message?.role)}`);
      const content = message?.content;
      const textual = typeof content === 'string' || (Array.isArray(content) && content.every((part: any) => part?.type === 'text' && typeof part.text === 'string'));
      if (!textual) problems.push(`messages[${index}].content must be a string or text parts`);
    }
  }
  const tools: any[] = Array.isArray(body.tools) ? body.tools : [];
  const writeFiles = tools.find((tool) => tool?.type === 'function' && tool.function?.name === 'write_files');
  if (!writeFiles) problems.push('tools must include the function write_files');
  else {
    const schema = writeFiles.function.parameters;
    if (schema?.type !== 'object') problems.push('write_files.parameters must be an object schema');
    const item = schema?.properties?.files?.items;
    for (const field of ['path', 'content', 'kind']) {
      if (!item?.properties?.[field] || !item?.required?.includes(field)) problems.push(`write_files file items must require ${field}`);
    }
  }
  const forced = body.tool_choice?.type === 'function' && body.tool_choice?.function?.name === 'write_files';
  if (requireForced && !forced) problems.push(`tool_choice must force write_files, got ${JSON.stringify(body.tool_choice)}`);
  return problems;
}

async function streamChunks(request: IncomingMessage, response: ServerResponse, reply: Extract<FakeReply, { kind: 'stream' }>, includeUsage: boolean): Promise<void> {
  const placement = reply.usagePlacement ?? 'separate';
  const usage = reply.usage && includeUsage ? usageJson(reply.usage) : null;
  const chunks: unknown[] = reply.chunks.map((chunk) => (chunk && typeof chunk === 'object' && 'choices' in chunk ? { ...chunk, usage: null } : chunk));
  if (usage) {
    if (placement === 'finish') {
      const last = [...chunks].reverse().find((chunk: any) => chunk?.choices?.[0]?.finish_reason);
      if (last) (last as Record<string, unknown>).usage = usage;
    } else {
      const template = chunks.find((chunk: any) => chunk?.object === 'chat.completion.chunk') as Record<string, unknown> | undefined;
      chunks.push({ ...template, choices: [], usage });
    }
  }
  chunks.push('[DONE]');
  const frames = chunks.map((chunk) => `data: ${typeof chunk === 'string' ? chunk : JSON.stringify(chunk)}\n\n`);
  // As this fake always behaved: a drop or stall counted at or past the last chunk ends the stream normally instead.
  const before = (count: number | undefined) => (count !== undefined && count < frames.length ? count : undefined);
  const dropAfter = before(reply.dropAfter);
  const hangAfter = before(reply.hangAfter);
  await writeSseStream(request, response, frames, {
    ...(reply.headers !== undefined ? { headers: reply.headers } : {}),
    ...(dropAfter !== undefined ? { dropAfter } : {}),
    ...(hangAfter !== undefined ? { hangAfter } : {}),
    ...(reply.chunkDelayMs !== undefined ? { frameDelayMs: reply.chunkDelayMs } : {}),
  });
}

function usageJson(usage: FakeChatUsage): Record<string, unknown> {
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.prompt_tokens + usage.completion_tokens,
    ...(usage.cached_tokens !== undefined ? { prompt_tokens_details: { cached_tokens: usage.cached_tokens } } : {}),
  };
}

function sendError(response: ServerResponse, status: number, type: string, message: string, code: string | null): void {
  sendJson(response, status, { error: { message, type, param: null, code } });
}

// ---------------------------------------------------------------------------------------------
// Chunk builders

const CREATED = 1_764_000_000;

/** One `chat.completion.chunk` with a single choice. */
export function chunk(model: string, delta: Record<string, unknown>, finishReason: string | null = null): Record<string, unknown> {
  return { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: CREATED, model, system_fingerprint: 'fp_fake', choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] };
}

/** A tool call: the first delta names it with empty arguments, then the arguments in `chunkSize`-character fragments. */
export function toolCallChunks(model: string, name: string, argumentsJson: string, chunkSize = 16): Record<string, unknown>[] {
  const chunks = [
    chunk(model, { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_fake1', type: 'function', function: { name, arguments: '' } }] }),
  ];
  for (let offset = 0; offset < argumentsJson.length; offset += chunkSize) {
    chunks.push(chunk(model, { tool_calls: [{ index: 0, function: { arguments: argumentsJson.slice(offset, offset + chunkSize) } }] }));
  }
  return chunks;
}

export interface WriteFilesReplyOptions {
  model?: string;
  usage?: FakeChatUsage;
  usagePlacement?: 'separate' | 'finish';
  /** Characters of arguments per delta. @default 16 */
  chunkSize?: number;
  /** Send these raw arguments instead of `JSON.stringify(input)`. */
  rawArguments?: string;
  /** @default 'tool_calls' */
  finishReason?: string;
}

/** A complete answer that calls write_files with `input`. */
export function writeFilesReply(input: unknown, options: WriteFilesReplyOptions = {}): Extract<FakeReply, { kind: 'stream' }> {
  const model = options.model ?? 'qwen3-coder';
  return {
    kind: 'stream',
    chunks: [
      ...toolCallChunks(model, 'write_files', options.rawArguments ?? JSON.stringify(input), options.chunkSize ?? 16),
      chunk(model, {}, options.finishReason ?? 'tool_calls'),
    ],
    usage: options.usage ?? { prompt_tokens: 1_000, completion_tokens: 200 },
    ...(options.usagePlacement !== undefined ? { usagePlacement: options.usagePlacement } : {}),
  };
}

/** A complete answer in text only, as a server that ignores `tool_choice` sends it. */
export function textReply(text: string, options: { model?: string; usage?: FakeChatUsage } = {}): Extract<FakeReply, { kind: 'stream' }> {
  const model = options.model ?? 'qwen3-coder';
  const pieces = text.match(/.{1,8}/gs) ?? [];
  return {
    kind: 'stream',
    chunks: [chunk(model, { role: 'assistant', content: '' }), ...pieces.map((piece) => chunk(model, { content: piece })), chunk(model, {}, 'stop')],
    usage: options.usage ?? { prompt_tokens: 1_000, completion_tokens: 50 },
  };
}

/** An error inside the stream, as vLLM and OpenAI send it after a 200. */
export function errorChunk(message: string, type = 'server_error'): Record<string, unknown> {
  return { error: { message, type, param: null, code: null } };
}
