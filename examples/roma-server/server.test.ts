/**
 * End to end over HTTP: the server runs in this process on a free port, with the scripted
 * generator reading a temp PTC_SCRIPT and the local runner running real pytest.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RomaArtifactResultSchema, parseRomaPlan, romaCacheKey } from '../../src/roma/index.js';
import { startRomaServer, type RunningServer } from './server.js';

const TESTS = `from slug import slugify


def test_spaces():
    assert slugify("Hello World") == "hello-world"


def test_punctuation():
    assert slugify("Hello,   World!!") == "hello-world"
`;
const BUGGY = 'import re\n\n\ndef slugify(text):\n    return re.sub(r"[^a-z0-9]", "-", text.lower())\n';
const FIXED = 'import re\n\n\ndef slugify(text):\n    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")\n';

/** Iteration 1 has a bug that real pytest catches, iteration 2 fixes it. */
const SCRIPT = [
  [
    { path: 'slug.py', content: BUGGY },
    { path: 'tests/test_slug.py', content: TESTS, kind: 'test' },
  ],
  [
    { path: 'slug.py', content: FIXED, description: 'collapse runs, strip the ends' },
    { path: 'tests/test_slug.py', content: TESTS, kind: 'test' },
  ],
];

const PLAN = {
  execution_id: 'slug-001',
  scaffolding: { task_description: 'A slugify(text) function in slug.py', requirements: ['lowercase', 'runs of punctuation become one dash'] },
  timeout_seconds: 120,
};

interface SseEvent {
  event: string;
  data: unknown;
  id?: string;
}

/** Reads an SSE stream until `until` says stop (or the stream ends). */
async function readEvents(url: string, until: (event: SseEvent) => boolean, signal: AbortSignal): Promise<SseEvent[]> {
  const response = await fetch(url, { signal });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: SseEvent[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return events;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event: SseEvent = { event: 'message', data: undefined };
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event.event = line.slice(7);
          else if (line.startsWith('data: ')) event.data = JSON.parse(line.slice(6));
          else if (line.startsWith('id: ')) event.id = line.slice(4);
        }
        events.push(event);
        if (until(event)) return events;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

async function post(server: RunningServer, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${server.url}/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function get(server: RunningServer, path: string): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.url}${path}`);
  expect(response.status).toBe(200);
  return (await response.json()) as Record<string, unknown>;
}

describe('ROMA server over HTTP (scripted generator, local runner, real pytest)', () => {
  let directory: string;
  let server: RunningServer;
  let failing: RunningServer;
  const warnings: string[] = [];

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'ptc-roma-server-'));
    writeFileSync(join(directory, 'script.json'), JSON.stringify(SCRIPT));
    writeFileSync(join(directory, 'failing.json'), JSON.stringify([{ error: 'LLM provider error: 429 rate limited' }]));
    const onWarning = (message: string) => warnings.push(message);
    server = await startRomaServer({ env: { PTC_SCRIPT: join(directory, 'script.json') }, port: 0, app: { eventsWaitMs: 5_000 }, onWarning });
    // The model answers after 200 ms, so a retry sent at once finds the run still in flight.
    failing = await startRomaServer({ env: { PTC_SCRIPT: join(directory, 'failing.json'), PTC_SCRIPT_LATENCY_MS: '200' }, port: 0, app: { eventsWaitMs: 300 }, onWarning });
  });

  afterAll(async () => {
    await Promise.all([server?.close(), failing?.close()]);
    rmSync(directory, { recursive: true, force: true });
  });

  test('GET / and GET /health: healthy, and says the generator is scripted', async () => {
    expect(await get(server, '/')).toMatchObject({ service: 'ptc', endpoints: { execute: 'POST /execute' } });
    const health = await get(server, '/health');
    expect(health).toMatchObject({ status: 'healthy', service: 'ptc', version: '0.1.0', schemas_available: true, generator: 'scripted', scripted: true, runner: 'local', cache: 'memory' });
    expect((health.notices as string[]).join(' ')).toMatch(/SCRIPTED generator answers every plan from PTC_SCRIPT/);
  });

  test('POST /execute rejects invalid plans with 422 and FastAPI-style field errors', async () => {
    const missing = await post(server, { scaffolding: { requirements: 'not a list' }, max_iterations: 11, primary_llm: 'CLAUDE' });
    expect(missing.status).toBe(422);
    expect(missing.json.detail).toEqual([
      { type: 'missing', loc: ['body', 'execution_id'], msg: 'Field required' },
      { type: 'missing', loc: ['body', 'scaffolding', 'task_description'], msg: 'Field required' },
      { type: 'list_type', loc: ['body', 'scaffolding', 'requirements'], msg: 'Input should be a valid list' },
      { type: 'enum', loc: ['body', 'primary_llm'], msg: "Input should be 'claude', 'kimi' or 'openai'" },
      { type: 'less_than_equal', loc: ['body', 'max_iterations'], msg: 'Input should be less than or equal to 10' },
    ]);
    // Valid for ROMA, refused by our stricter dependency rule: still a field error on ROMA's path.
    const unsafe = await post(server, { ...PLAN, scaffolding: { ...PLAN.scaffolding, dependencies: ['--index-url=http://evil'] } });
    expect(unsafe.status).toBe(422);
    expect(unsafe.json.detail).toMatchObject([{ type: 'value_error', loc: ['body', 'scaffolding', 'dependencies', 0] }]);
    const notJson = await post(server, '{"execution_id": ');
    expect(notJson.status).toBe(422);
    expect(notJson.json.detail).toMatchObject([{ type: 'json_invalid', loc: ['body', 0] }]);
  });

  test('POST /execute runs the plan (red, then green with real pytest) while GET /executions/:id/events streams it', async () => {
    const controller = new AbortController();
    // Subscribed before the run starts: the stream waits for the execution id to appear.
    const streaming = readEvents(`${server.url}/executions/${PLAN.execution_id}/events`, (event) => event.event === 'result', controller.signal);
    const response = await post(server, PLAN);
    const events = await streaming;
    expect(response.status).toBe(200);
    const result = RomaArtifactResultSchema.parse(response.json);
    expect(result).toMatchObject({
      execution_id: 'slug-001',
      status: 'SUCCESS',
      iterations_used: 2,
      from_cache: false,
      error_message: null,
      cache_key: romaCacheKey(parseRomaPlan(PLAN)),
      llm_usage: [{ provider: 'scripted', model: 'scripted', api_calls: 2 }],
    });
    expect(result.artifacts.map((artifact) => [artifact.file_path, artifact.artifact_type, artifact.language])).toEqual([
      ['slug.py', 'source_code', 'python'],
      ['tests/test_slug.py', 'test', 'python'],
    ]);
    expect(result.artifacts[0]!.content).toBe(FIXED);
    expect(result.test_results).toMatchObject({ exit_code: 0, tests_passed: 2, tests_failed: 0 });
    expect(result.test_results!.test_command).toMatch(/pytest/);
    expect(result.started_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/);

    const names = events.map((event) => event.event);
    expect(names[0]).toBe('connected');
    expect(names.at(-1)).toBe('result');
    for (const name of ['run:start', 'cache:miss', 'sandbox:ready', 'generation:start', 'generation:end', 'tests:start', 'tests:end', 'iteration:end', 'run:end']) {
      expect(names).toContain(name);
    }
    const testsEnded = events.filter((event) => event.event === 'tests:end').map((event) => event.data as { iteration: number; success: boolean; failed: number });
    expect(testsEnded).toMatchObject([
      { iteration: 1, success: false, failed: 1 },
      { iteration: 2, success: true, failed: 0 },
    ]);
    expect(names.indexOf('run:end')).toBeLessThan(names.indexOf('result'));
    expect(events.at(-1)!.data).toEqual(response.json);

    // A late subscriber gets the whole run replayed, then the stream ends.
    const replay = await readEvents(`${server.url}/executions/${PLAN.execution_id}/events`, () => false, controller.signal);
    expect(replay.map((event) => event.event)).toEqual(names);
  });

  test('the same plan under another execution id is a cache hit: same status, from_cache, no new generation', async () => {
    const before = await get(server, '/stats');
    const response = await post(server, { ...PLAN, execution_id: 'slug-002' });
    expect(response.status).toBe(200);
    const result = RomaArtifactResultSchema.parse(response.json);
    expect(result).toMatchObject({ execution_id: 'slug-002', status: 'SUCCESS', from_cache: true, llm_usage: [] });
    const after = await get(server, '/stats');
    expect(after.generator_calls).toBe(before.generator_calls);
    expect(after).toMatchObject({ total_executions: 2, successful_executions: 2, failed_executions: 0, cache_hits: 1, active_executions: 0 });
  });

  test('a failed run answers 200 with status FAILURE and the error message', async () => {
    const response = await post(failing, { ...PLAN, execution_id: 'fails-001' });
    expect(response.status).toBe(200);
    const result = RomaArtifactResultSchema.parse(response.json);
    expect(result).toMatchObject({
      execution_id: 'fails-001',
      status: 'FAILURE',
      artifacts: [],
      test_results: null,
      error_message: 'LLM provider error: 429 rate limited',
    });
    expect(await get(failing, '/stats')).toMatchObject({ total_executions: 1, successful_executions: 0, failed_executions: 1 });
  });

  test('an events stream for an id that never starts ends with "Execution not found"', async () => {
    const events = await readEvents(`${failing.url}/executions/never-started/events`, () => false, AbortSignal.timeout(20_000));
    expect(events.map((event) => event.event)).toEqual(['connected', 'error']);
    expect(events[1]!.data).toEqual({ execution_id: 'never-started', error: 'Execution not found' });
  });

  test('a client retry of the very same request joins the run in flight, even with cache_strategy never', async () => {
    const body = { ...PLAN, execution_id: 'retry-001', cache_strategy: 'never', max_iterations: 1 };
    const before = await get(failing, '/stats');
    const [first, retry] = await Promise.all([post(failing, body), post(failing, body)]);
    expect(first.json).toEqual(retry.json);
    const after = await get(failing, '/stats');
    // One run of one iteration: one generator call, not two.
    expect((after.generator_calls as number) - (before.generator_calls as number)).toBe(1);
  });

  test('unknown routes answer 404 in FastAPI form; warnings never carry a secret', async () => {
    const response = await fetch(`${server.url}/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ detail: 'Not Found' });
    for (const warning of warnings) expect(warning).not.toMatch(/sk-ant/);
  });
});

