import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  ArtifactBundleSchema,
  PTCAgent,
  PTCError,
  formatSSEEvent,
  sendSSE,
  toSSEResponse,
  type ArtifactBundle,
  type PTCStreamItem,
  type SSESource,
} from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FIXED, PLAN, expectNoOpenSession } from '../helpers.js';

interface SSEMessage {
  event?: string;
  data?: string;
  comment?: string;
}

/** A small SSE parser: blocks end with a blank line; `:` lines are comments. */
function parseSSE(text: string): { messages: SSEMessage[]; rest: string } {
  const blocks = text.split('\n\n');
  const rest = blocks.pop() ?? '';
  const messages = blocks.map((block) => {
    const message: SSEMessage = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) message.comment = line.slice(1).trim();
      else if (line.startsWith('event: ')) message.event = line.slice(7);
      else if (line.startsWith('data: ')) message.data = (message.data === undefined ? '' : `${message.data}\n`) + line.slice(6);
      else throw new Error(`unexpected SSE line ${JSON.stringify(line)}`);
    }
    return message;
  });
  return { messages, rest };
}

/** An agent whose generator never answers (until aborted): the run is mid-flight for as long as the test wants. */
function hangingAgent() {
  const runner = new FakeSandboxRunner({ results: { passed: ['test_add'] } });
  const generator = new ScriptedCodeGenerator({ files: FIXED, delayMs: 600_000 });
  const agent = new PTCAgent({ generator, runner, cache: false });
  const ends: ArtifactBundle['status'][] = [];
  agent.on('run:end', (event) => ends.push(event.status));
  return { agent, runner, ends };
}

async function waitUntilSettled(agent: PTCAgent, runner: FakeSandboxRunner, ends: string[]) {
  await vi.waitFor(() => {
    expect(ends).toEqual(['cancelled']);
    expect(agent.stats().inFlight).toBe(0);
    expectNoOpenSession(runner);
  }, { timeout: 10_000, interval: 20 });
}

/** Reads an HTTP response as SSE until `until` matches an event; returns the events so far. */
function readUntil(response: IncomingMessage, until: (message: SSEMessage) => boolean): Promise<SSEMessage[]> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const seen: SSEMessage[] = [];
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      const { messages, rest } = parseSSE(buffer);
      buffer = rest;
      seen.push(...messages);
      if (messages.some(until)) {
        response.off('data', onData);
        resolve(seen);
      }
    };
    response.on('data', onData);
    response.once('error', reject);
    response.once('end', () => reject(new Error(`the stream ended first: ${JSON.stringify(seen.map((m) => m.event))}`)));
  });
}

function post(port: number, path: string, body: unknown): Promise<{ response: IncomingMessage; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
    req.once('response', (response) => resolve({ response, destroy: () => req.destroy() }));
    req.once('error', reject);
    req.end(JSON.stringify(body));
  });
}

const servers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((close) => close()));
});

describe('toSSEResponse', () => {
  test('one event per stream item, data the item as JSON, ending with the bundle', async () => {
    const runner = new FakeSandboxRunner({ results: { passed: ['test_add'] } });
    // U+2028/U+2029 in a file reach the bundle event; they must not split its data line.
    const files = FIXED.map((file) => (file.kind === 'test' ? file : { ...file, content: `${file.content}# a\u2028b\u2029c\n` }));
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files }), runner, cache: false });
    const response = toSSEResponse(agent, PLAN, { headers: { 'access-control-allow-origin': '*' } });

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toContain('no-cache');
    expect(response.headers.get('access-control-allow-origin')).toBe('*');
    const text = await response.text();
    expect(text).not.toMatch(/[\u2028\u2029]/);
    const { messages, rest } = parseSSE(text);
    expect(rest).toBe('');
    const events = messages.filter((message) => message.comment === undefined);
    const items = events.map((message) => JSON.parse(message.data!) as PTCStreamItem);
    for (const [index, item] of items.entries()) expect(item.type).toBe(events[index]!.event);
    expect(items.map((item) => item.type)).toEqual(expect.arrayContaining(['run:start', 'generation:start', 'tests:end', 'run:end']));
    const last = items.at(-1)!;
    expect(last.type).toBe('bundle');
    if (last.type !== 'bundle') throw new Error('unreachable');
    expect(ArtifactBundleSchema.safeParse(last.bundle).success).toBe(true);
    expect(last.bundle.status).toBe('success');
    expect(last.bundle.files.find((file) => file.path === 'calc.py')?.content).toContain('a\u2028b\u2029c');
    expectNoOpenSession(runner);
  });

  test('an invalid plan is a 400 naming the problem, and no run starts', async () => {
    const { agent } = hangingAgent();
    const response = toSSEResponse(agent, { taskDescription: '   ', maxIterations: 99 });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; issues: Array<{ path: string }> } };
    expect(body.error.code).toBe('PLAN_INVALID');
    expect(body.error.issues.map((issue) => issue.path).sort()).toEqual(['maxIterations', 'taskDescription']);
    expect(agent.stats().total).toBe(0);
  });

  test('a keepalive comment goes out while nothing else does', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const runner = new FakeSandboxRunner({ results: { passed: ['test_add'] } });
    const generator = new ScriptedCodeGenerator(async () => {
      await gate;
      return { files: FIXED };
    });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const reader = toSSEResponse(agent, PLAN, { keepAliveMs: 5 }).body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    // The generator waits for the keepalive, so the test does not depend on how long anything takes.
    while (!text.includes(': keepalive\n\n')) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error('ended before a keepalive');
      text += decoder.decode(chunk.value, { stream: true });
    }
    release();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) text += decoder.decode(chunk.value, { stream: true });
    const events = parseSSE(text).messages.filter((message) => message.event !== undefined);
    expect(events.at(-1)?.event).toBe('bundle');
    expectNoOpenSession(runner);
  });

  test('cancelling the body mid-run cancels the run: sandbox closed, slot freed', async () => {
    const { agent, runner, ends } = hangingAgent();
    const reader = toSSEResponse(agent, PLAN).body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('event: sandbox:ready')) {
      const chunk = await reader.read();
      if (chunk.done) throw new Error('ended before the sandbox was ready');
      text += decoder.decode(chunk.value, { stream: true });
    }
    expect(runner.openSessions).toBe(1);
    expect(agent.stats().inFlight).toBe(1);
    await reader.cancel(new Error('gone'));
    await waitUntilSettled(agent, runner, ends);
  });

  test('the caller signal cancels the run and the stream still ends with the bundle', async () => {
    const { agent, runner } = hangingAgent();
    const controller = new AbortController();
    const reader = toSSEResponse(agent, PLAN, { signal: controller.signal }).body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let aborted = false;
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      text += decoder.decode(chunk.value, { stream: true });
      if (!aborted && text.includes('event: generation:start')) {
        aborted = true;
        controller.abort();
      }
    }
    const last = parseSSE(text).messages.at(-1)!;
    expect(last.event).toBe('bundle');
    expect((JSON.parse(last.data!) as { bundle: ArtifactBundle }).bundle.status).toBe('cancelled');
    expectNoOpenSession(runner);
    expect(agent.stats().inFlight).toBe(0);
  });

  test('an error the run throws is a last error event; a foreign message stays on the server', async () => {
    const failing = (error: Error): SSESource => ({
      async *stream() {
        yield { type: 'warning', executionId: 'x', timestamp: 0, code: 'W', message: 'first' };
        throw error;
      },
    });
    const ptc = parseSSE(await toSSEResponse(failing(new PTCError('SANDBOX_FAILED', 'the box fell over')), PLAN).text()).messages;
    expect(ptc.map((message) => message.event).filter(Boolean)).toEqual(['warning', 'error']);
    expect(JSON.parse(ptc.at(-1)!.data!)).toEqual({ code: 'SANDBOX_FAILED', message: 'the box fell over' });
    const foreign = parseSSE(await toSSEResponse(failing(new Error('password=hunter2')), PLAN).text()).messages;
    expect(foreign.at(-1)!.data).not.toContain('hunter2');
    expect(JSON.parse(foreign.at(-1)!.data!).code).toBe('INTERNAL');
  });

  test('bad keepAliveMs is a TypeError naming it', () => {
    const { agent } = hangingAgent();
    for (const keepAliveMs of [-1, 1.5, Number.NaN, 2 ** 40]) expect(() => toSSEResponse(agent, PLAN, { keepAliveMs })).toThrow(/keepAliveMs/);
  });

  test('formatSSEEvent keeps every event on its two lines, whatever the name or data', () => {
    const text = formatSSEEvent('evil\r\nevent: other', { text: 'a\nb\u2028c\u2029d\re' });
    expect(text.split('\n')).toHaveLength(4);
    expect(text.startsWith('event: evil  event: other\ndata: ')).toBe(true);
    expect(JSON.parse(text.split('\n')[1]!.slice(6))).toEqual({ text: 'a\nb\u2028c\u2029d\re' });
  });
});

describe('over real HTTP, a client that disconnects mid-run cancels it', () => {
  test('node:http with sendSSE', async () => {
    const { agent, runner, ends } = hangingAgent();
    const handled: Array<Promise<void>> = [];
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => handled.push(sendSSE(res, agent, JSON.parse(body))));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    const { response, destroy } = await post(port, '/run', PLAN);
    expect(response.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    await readUntil(response, (message) => message.event === 'sandbox:ready');
    expect(runner.openSessions).toBe(1);
    destroy();
    await waitUntilSettled(agent, runner, ends);
    // sendSSE settles (quietly) once the client is gone.
    await expect(Promise.all(handled)).resolves.toBeDefined();
  });

  test("Hono's node-server, returning the Response as is", async () => {
    const { agent, runner, ends } = hangingAgent();
    const app = new Hono();
    app.post('/run', async (c) => toSSEResponse(agent, await c.req.json()));
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(started));
    });
    servers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { port } = server.address() as AddressInfo;

    const { response, destroy } = await post(port, '/run', PLAN);
    await readUntil(response, (message) => message.event === 'sandbox:ready');
    expect(runner.openSessions).toBe(1);
    expect(agent.stats().inFlight).toBe(1);
    destroy();
    await waitUntilSettled(agent, runner, ends);
  });

  test('node:http: an invalid plan is a 400 JSON answer', async () => {
    const { agent } = hangingAgent();
    const server: Server = createServer((req, res) => void sendSSE(res, agent, JSON.parse('{"maxIterations":"three"}')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(() => new Promise((resolve) => server.close(() => resolve())));
    const { response } = await post((server.address() as AddressInfo).port, '/run', {});
    expect(response.statusCode).toBe(400);
    let body = '';
    for await (const chunk of response) body += String(chunk);
    expect(JSON.parse(body).error.code).toBe('PLAN_INVALID');
  });
});

test('an invalid plan is answered 400 without the secret a field name carried', async () => {
  const secret = 'sk-sse-field-secret-000';
  const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: [] }), runner: new FakeSandboxRunner(), cache: false, secrets: [secret] });
  const response = toSSEResponse(agent, { taskDescription: 'x', [secret]: 1 } as never);
  expect(response.status).toBe(400);
  const body = await response.text();
  expect(body).toContain('PLAN_INVALID');
  expect(body).not.toContain(secret);
});
