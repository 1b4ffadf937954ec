import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * The loopback HTTP and SSE plumbing the fakes of streaming model APIs share (the Anthropic
 * Messages API, OpenAI-compatible chat completions): a server on a free port of 127.0.0.1 whose
 * `close()` also ends open streams, a capped body reader, JSON answers, and an SSE writer that can
 * drop the connection or stall part way. What a fake checks and answers stays in the fake.
 */

/** Bodies over this are refused: a fake must not buffer whatever a broken client sends. */
export const MAX_BODY_BYTES = 20 * 1024 * 1024;

export type RequestHandler = (request: IncomingMessage, response: ServerResponse) => Promise<void>;

export class LoopbackServer {
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:<port>`, no trailing slash. */
    readonly origin: string,
  ) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Listens on a free loopback port. A handler that throws answers 500 with the error's text. */
  static async start(handler: RequestHandler): Promise<LoopbackServer> {
    const server = createServer((request, response) => {
      handler(request, response).catch((error: unknown) => {
        if (!response.headersSent) response.writeHead(500);
        response.end(String(error));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    return new LoopbackServer(server, `http://127.0.0.1:${port}`);
  }

  /** Destroys every open connection (a stalled stream would keep `server.close` waiting), then closes. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The request body as UTF-8; rejects (and destroys the request) past `MAX_BODY_BYTES`. */
export function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** The body parsed as JSON: `undefined` when it is empty or does not parse (the fake reports it). */
export async function readJsonBody(request: IncomingMessage): Promise<any> {
  const raw = await readBody(request);
  try {
    return raw.length > 0 ? JSON.parse(raw) : undefined;
  } catch {
    return undefined;
  }
}

/** Answers `status` with `body` as JSON; `headers` come after `content-type` and may replace it. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

export interface SseStreamOptions {
  /** Extra response headers, after `content-type` and `cache-control`. */
  headers?: Record<string, string>;
  /** Destroy the socket after writing this many frames (a dropped connection). */
  dropAfter?: number;
  /** Stop writing after this many frames and keep the connection open (a stalled stream). */
  hangAfter?: number;
  /** Wait this long after each frame. @default 0 (one event-loop turn, so each frame goes out in its own chunk) */
  frameDelayMs?: number;
}

/**
 * Answers 200 with `text/event-stream` and writes `frames` (each a complete SSE frame, blank line
 * included) one at a time, then ends the response, unless `dropAfter` or `hangAfter` says
 * otherwise or the client went away. Both count written frames, and both apply when they equal
 * the number of frames: every frame is written, then the socket is dropped, or left open.
 */
export async function writeSseStream(request: IncomingMessage, response: ServerResponse, frames: readonly string[], options: SseStreamOptions = {}): Promise<void> {
  response.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', ...options.headers });
  response.flushHeaders();
  for (const [index, frame] of frames.entries()) {
    if (options.dropAfter !== undefined && index >= options.dropAfter) {
      request.socket.destroy();
      return;
    }
    if (options.hangAfter !== undefined && index >= options.hangAfter) return;
    if (response.destroyed) return;
    await new Promise<void>((resolve) => response.write(frame, () => resolve()));
    await new Promise<void>((resolve) => (options.frameDelayMs ? setTimeout(resolve, options.frameDelayMs) : setImmediate(resolve)));
  }
  if (options.dropAfter !== undefined && options.dropAfter >= frames.length) {
    request.socket.destroy();
    return;
  }
  if (options.hangAfter !== undefined && options.hangAfter >= frames.length) return;
  response.end();
}
