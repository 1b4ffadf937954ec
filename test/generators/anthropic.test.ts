import Anthropic from '@anthropic-ai/sdk';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { GenerationError, PTCAbortError } from '../../src/errors.js';
import {
  AnthropicCodeGenerator,
  DEFAULT_ANTHROPIC_MODEL,
  DEFAULT_ANTHROPIC_PRICING,
  type AnthropicCodeGeneratorOptions,
} from '../../src/generators/anthropic.js';
import {
  errorEvent,
  FakeAnthropicServer,
  messageStart,
  ping,
  textStream,
  toolUseBlock,
  writeFilesStream,
  type FakeReply,
} from '../fakes/anthropic-server.js';
import { ACCEPTANCE_TEST, firstRequest, GOOD_FILES, recordingContext, refinementRequest } from './fixtures.js';

const API_KEY = 'sk-ant-FAKEKEY-do-not-leak-0123456789abcdef';
const MODEL = 'claude-sonnet-5';

let server: FakeAnthropicServer;

beforeEach(async () => {
  server = await FakeAnthropicServer.start({ apiKey: API_KEY });
});

afterEach(async () => {
  await server.close();
});

function generator(options: AnthropicCodeGeneratorOptions = {}): AnthropicCodeGenerator {
  return new AnthropicCodeGenerator({
    apiKey: API_KEY,
    baseURL: server.url,
    model: MODEL,
    streamRetryDelayMs: 1,
    ...options,
  });
}

function stream(input: unknown = GOOD_FILES, options: Parameters<typeof writeFilesStream>[1] = {}): FakeReply {
  return { kind: 'stream', events: writeFilesStream(input, { model: MODEL, ...options }) };
}

function fastError(status: number, type: string, message: string): FakeReply {
  return { kind: 'error', status, body: { type: 'error', error: { type, message } }, headers: { 'retry-after-ms': '1' } };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

function userText(body: any): string[] {
  return body.messages[0].content.map((block: any) => block.text as string);
}

describe('AnthropicCodeGenerator against the fake Messages API', () => {
  test('happy path: files, notes, usage and a well-formed request', async () => {
    server.enqueue(stream(GOOD_FILES, { usage: { input_tokens: 1200, output_tokens: 300, cache_creation_input_tokens: 2000 } }));
    const { context, progress } = recordingContext();
    const result = await generator().generate(firstRequest(), context);

    expect(result.files).toEqual(GOOD_FILES.files);
    expect(result.notes).toBe('Implemented add.');
    expect(result.usage).toMatchObject({ inputTokens: 1200, outputTokens: 300, cacheCreationInputTokens: 2000, cacheReadInputTokens: 0, apiCalls: 1 });
    expect(server.problems).toEqual([]);

    const [request] = server.requests;
    expect(request?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request?.headers['anthropic-version']).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(request?.body.model).toBe(MODEL);
    expect(request?.body.max_tokens).toBe(32_000);
    expect(request?.body.tool_choice).toEqual({ type: 'tool', name: 'write_files', disable_parallel_tool_use: true });
    expect(request?.body.tools[0].input_schema.properties.files.items.properties.kind.enum).toEqual(['source', 'test', 'config', 'documentation', 'data']);
    expect(request?.body.system[0].cache_control).toEqual({ type: 'ephemeral' });

    const [plan, instructions] = userText(request?.body);
    expect(plan).toContain('Write a calculator module with add and divide.');
    expect(plan).toContain('divide(a, b) raises ZeroDivisionError when b is 0');
    expect(plan).toContain('numpy>=1.26');
    expect(plan).toContain('pytest');
    expect(plan).toContain('tests/test_*.py');
    expect(plan).toContain(ACCEPTANCE_TEST);
    expect(instructions).toContain('write_files');
    expect(request?.body.messages[0].content[0].cache_control).toEqual({ type: 'ephemeral' });
    expect(request?.body.messages[0].content[1].cache_control).toBeUndefined();

    // Progress: counts go up, and the last one is the API's own total.
    const counts = progress.map((item) => item.outputTokens);
    expect(counts.length).toBeGreaterThan(1);
    expect(counts.at(-1)).toBe(300);
  });

  test('tool input split over many deltas is reassembled exactly', async () => {
    const big = {
      files: [
        { path: 'calculator.py', content: `${'# a "quoted" \\ line with ünïcödé\n'.repeat(60)}def add(a, b):\n    return a + b\n`, kind: 'source' },
        { path: 'tests/test_calculator.py', content: 'def test_add():\n    assert True\n', kind: 'test' },
      ],
    };
    server.enqueue(stream(big, { chunkSize: 9 }));
    const { context, progress } = recordingContext();
    const result = await generator().generate(firstRequest(), context);
    expect(result.files).toEqual(big.files);
    expect(result.notes).toBeUndefined();
    // Output tokens are estimated while the deltas stream in.
    expect(progress.filter((item) => item.message === undefined).length).toBeGreaterThan(20);
  });

  test('invalid tool input is retried once with the problem stated, then succeeds', async () => {
    server.enqueue(
      stream({ files: [{ path: 'calculator.py', content: 'x = 1\n', kind: 'binary' }] }),
      stream(GOOD_FILES, { usage: { input_tokens: 1000, output_tokens: 100 } }),
    );
    const { context, progress } = recordingContext();
    const result = await generator().generate(firstRequest(), context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(result.usage.apiCalls).toBe(2);
    expect(server.requests).toHaveLength(2);
    const retryText = userText(server.requests[1]?.body).join('\n');
    expect(retryText).toContain('could not be used');
    expect(retryText).toContain('files.0.kind');
    expect(progress.some((item) => item.message?.includes('asking again'))).toBe(true);
    // The retry keeps the cached prefix byte for byte.
    expect(server.requests[1]?.body.system).toEqual(server.requests[0]?.body.system);
    expect(server.requests[1]?.body.messages[0].content[0]).toEqual(server.requests[0]?.body.messages[0].content[0]);
  });

  test('invalid output twice becomes GENERATION_OUTPUT_INVALID with the usage of both calls', async () => {
    server.enqueue(stream({ files: [] }), stream({ nothing: true }));
    const error = await rejection(generator().generate(firstRequest(), recordingContext().context));
    expect(error).toBeInstanceOf(GenerationError);
    const generationError = error as GenerationError;
    expect(generationError.code).toBe('GENERATION_OUTPUT_INVALID');
    expect(generationError.retryable).toBe(true);
    expect(generationError.message).toContain('files');
    expect(generationError.usage?.apiCalls).toBe(2);
    expect(generationError.usage?.inputTokens).toBe(2000);
  });

  test('tool input that is not JSON is an invalid answer, retried once with the problem stated', async () => {
    server.enqueue(stream(undefined, { rawJson: 'not json{' }), stream(GOOD_FILES));
    const result = await generator({ streamRetries: 0 }).generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(result.usage.apiCalls).toBe(2);
    expect(userText(server.requests[1]?.body).join('\n')).toContain('input was not valid JSON');
  });

  test('max_tokens truncation is never salvaged: retried with the limit stated', async () => {
    const truncated = JSON.stringify(GOOD_FILES).slice(0, 60);
    server.enqueue(
      stream(undefined, { rawJson: truncated, stopReason: 'max_tokens', usage: { input_tokens: 1000, output_tokens: 5000 } }),
      stream(GOOD_FILES),
    );
    const result = await generator({ maxTokens: 5000 }).generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    const retryText = userText(server.requests[1]?.body).join('\n');
    expect(retryText).toContain('cut off at the output limit of 5000 tokens');
  });

  test('max_tokens follows the remaining token budget, with a floor', async () => {
    server.enqueue(stream(), stream());
    await generator().generate(firstRequest({ remainingTokens: 5000 }), recordingContext().context);
    await generator().generate(firstRequest({ remainingTokens: 10 }), recordingContext().context);
    expect(server.requests.map((request) => request.body.max_tokens)).toEqual([5000, 1024]);
  });

  test('a refusal is retried once, then reported as invalid output', async () => {
    server.enqueue(
      { kind: 'stream', events: textStream('I cannot help with that.', { model: MODEL, stopReason: 'refusal' }) },
      { kind: 'stream', events: textStream('I cannot help with that.', { model: MODEL, stopReason: 'refusal' }) },
    );
    const error = (await rejection(generator().generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error.code).toBe('GENERATION_OUTPUT_INVALID');
    expect(error.message).toContain('refusal');
    expect(userText(server.requests[1]?.body).join('\n')).toContain('refusal');
  });

  test('429 at request start: the SDK retries and the call succeeds', async () => {
    server.enqueue(fastError(429, 'rate_limit_error', 'slow down'), stream());
    const result = await generator().generate(firstRequest(), recordingContext().context);
    expect(result.files).toHaveLength(2);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[1]?.headers['x-stainless-retry-count']).toBe('1');
  });

  test('529 overloaded: retried by the SDK; when it persists, a retryable GenerationError', async () => {
    server.enqueue(fastError(529, 'overloaded_error', 'Overloaded'), stream());
    const result = await generator().generate(firstRequest(), recordingContext().context);
    expect(result.files).toHaveLength(2);

    server.enqueue(fastError(529, 'overloaded_error', 'Overloaded'), fastError(529, 'overloaded_error', 'Overloaded'));
    const error = (await rejection(generator({ maxRetries: 1 }).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.code).toBe('GENERATION_FAILED');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('529');
    expect(error.message).toContain('overloaded_error');
    expect(error.cause).toBeInstanceOf(Anthropic.InternalServerError);
  });

  test('a mid-stream `event: error` is retried by us (the SDK does not) and its input tokens are counted', async () => {
    const broken = writeFilesStream(GOOD_FILES, { model: MODEL, usage: { input_tokens: 700, output_tokens: 0 } }).slice(0, 4);
    server.enqueue({ kind: 'stream', events: [...broken, errorEvent('overloaded_error', 'Overloaded')] }, stream(GOOD_FILES, { usage: { input_tokens: 1000, output_tokens: 200 } }));
    const { context, progress } = recordingContext();
    const result = await generator().generate(firstRequest(), context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(result.usage.apiCalls).toBe(2);
    expect(result.usage.inputTokens).toBe(1700);
    expect(result.usage.outputTokens).toBeGreaterThanOrEqual(200);
    expect(progress.some((item) => item.message?.includes('stream broke') && item.message.includes('overloaded_error'))).toBe(true);
  });

  test('a socket dropped mid-stream is retried by us', async () => {
    server.enqueue({ kind: 'stream', events: writeFilesStream(GOOD_FILES, { model: MODEL }), dropAfter: 4 }, stream());
    const result = await generator().generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(server.requests).toHaveLength(2);
  });

  test('a socket dropped before the response is retried by the SDK', async () => {
    server.enqueue({ kind: 'drop' }, stream());
    const result = await generator().generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(server.requests[1]?.headers['x-stainless-retry-count']).toBe('1');
  });

  test('a request that never answers hits the SDK timeout and fails retryably', async () => {
    server.enqueue({ kind: 'hang' });
    const error = (await rejection(generator({ requestTimeoutMs: 200, maxRetries: 0 }).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.retryable).toBe(true);
    expect(error.cause).toBeInstanceOf(Anthropic.APIConnectionTimeoutError);
  });

  test('our stream retries are bounded', async () => {
    const broken = (): FakeReply => ({ kind: 'stream', events: writeFilesStream(GOOD_FILES, { model: MODEL }), dropAfter: 3 });
    server.enqueue(broken(), broken(), broken());
    const error = (await rejection(generator({ streamRetries: 2 }).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.retryable).toBe(true);
    expect(server.requests).toHaveLength(3);
    expect(error.usage?.apiCalls).toBe(3);
  });

  test('a stalled stream is abandoned after the idle timeout and retried', async () => {
    server.enqueue({ kind: 'stream', events: writeFilesStream(GOOD_FILES, { model: MODEL }), hangAfter: 4 }, stream());
    const result = await generator({ streamIdleTimeoutMs: 150 }).generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(server.requests).toHaveLength(2);
  });

  test('aborting mid-stream rejects with ABORTED and sends nothing more', async () => {
    server.enqueue({ kind: 'stream', events: writeFilesStream(GOOD_FILES, { model: MODEL, chunkSize: 8 }), hangAfter: 6 });
    const controller = new AbortController();
    const context = {
      signal: controller.signal,
      onProgress: (progress: { outputTokens: number }) => {
        if (progress.outputTokens > 1) controller.abort();
      },
    };
    const error = await rejection(generator().generate(firstRequest(), context));
    expect(error).toBeInstanceOf(PTCAbortError);
    expect((error as PTCAbortError).code).toBe('ABORTED');
    expect(server.requests).toHaveLength(1);
  });

  test('an already-aborted signal sends no request', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await rejection(generator().generate(firstRequest(), recordingContext(controller.signal).context));
    expect(error).toBeInstanceOf(PTCAbortError);
    expect(server.requests).toHaveLength(0);
  });

  test('iteration 2 reuses the cached prefix and states the failures', async () => {
    server.enqueue(
      stream(GOOD_FILES, { usage: { input_tokens: 300, output_tokens: 200, cache_creation_input_tokens: 2500 } }),
      stream(GOOD_FILES, { usage: { input_tokens: 500, output_tokens: 200, cache_read_input_tokens: 2500 } }),
    );
    const instance = generator();
    await instance.generate(firstRequest(), recordingContext().context);
    const second = await instance.generate(refinementRequest(), recordingContext().context);
    expect(second.usage).toMatchObject({ cacheReadInputTokens: 2500, cacheCreationInputTokens: 0, inputTokens: 500 });

    const [one, two] = server.requests;
    expect(two?.body.system).toEqual(one?.body.system);
    expect(two?.body.system[0].cache_control).toEqual({ type: 'ephemeral' });
    expect(two?.body.messages[0].content[0]).toEqual(one?.body.messages[0].content[0]);
    expect(two?.body.messages[0].content[0].cache_control).toEqual({ type: 'ephemeral' });
    expect(two?.body.tools).toEqual(one?.body.tools);

    const instructions = userText(two?.body)[1] ?? '';
    expect(instructions).toContain('Iteration 2');
    expect(instructions).toContain('return a - b');
    expect(instructions).toContain('tests.test_calculator › test_add');
    expect(instructions).toContain('assert -1 == 3');
    expect(instructions).toContain('Never change an acceptance test');
    expect(instructions).toContain('notes');
  });

  test('usage and cost arithmetic across calls, priced per model', async () => {
    server.enqueue(
      stream(GOOD_FILES, { usage: { input_tokens: 1000, output_tokens: 2000, cache_creation_input_tokens: 3000 } }),
      stream({ files: [] }, { usage: { input_tokens: 10, output_tokens: 20 } }),
      stream(GOOD_FILES, { usage: { input_tokens: 1000, output_tokens: 2000, cache_read_input_tokens: 3000 } }),
    );
    const instance = generator();
    const first = await instance.generate(firstRequest(), recordingContext().context);
    // claude-sonnet-5: $2 in, $10 out, $2.50 cache write, $0.20 cache read per million tokens.
    expect(first.usage.costUsd).toBeCloseTo((1000 * 2 + 2000 * 10 + 3000 * 2.5) / 1e6, 12);

    const second = await instance.generate(firstRequest(), recordingContext().context);
    expect(second.usage).toMatchObject({ inputTokens: 1010, outputTokens: 2020, cacheReadInputTokens: 3000, apiCalls: 2 });
    expect(second.usage.costUsd).toBeCloseTo((1010 * 2 + 2020 * 10 + 3000 * 0.2) / 1e6, 12);
  });

  test('cost is null for an unpriced model and follows a pricing override', async () => {
    server.enqueue(stream(GOOD_FILES, { model: 'claude-unknown-9' }), stream(GOOD_FILES, { model: 'claude-unknown-9', usage: { input_tokens: 1_000_000, output_tokens: 1_000_000 } }));
    const unpriced = await generator({ model: 'claude-unknown-9' }).generate(firstRequest(), recordingContext().context);
    expect(unpriced.usage.costUsd).toBeNull();

    const priced = await generator({
      model: 'claude-unknown-9',
      pricing: { 'claude-unknown-9': { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 3, cacheWriteUsdPerMillionTokens: 0, cacheReadUsdPerMillionTokens: 0 } },
    }).generate(firstRequest(), recordingContext().context);
    expect(priced.usage.costUsd).toBeCloseTo(4, 12);
  });

  test('pricing lookup: dated ids use their alias; null removes a default', () => {
    const instance = generator({ pricing: { 'claude-sonnet-4-6': null } });
    expect(instance.pricingFor('claude-sonnet-4-5-20250929')).toEqual(DEFAULT_ANTHROPIC_PRICING['claude-sonnet-4-5']);
    expect(instance.pricingFor('claude-sonnet-4-6')).toBeUndefined();
    expect(instance.pricingFor(DEFAULT_ANTHROPIC_MODEL)).toBeDefined();
  });

  test('401 and 400 are not retryable', async () => {
    const wrongKey = new AnthropicCodeGenerator({ apiKey: 'sk-ant-wrong-key-00000000', baseURL: server.url, model: MODEL });
    const unauthorised = (await rejection(wrongKey.generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(unauthorised).toBeInstanceOf(GenerationError);
    expect(unauthorised.retryable).toBe(false);
    expect(unauthorised.message).toContain('401');
    expect(unauthorised.cause).toBeInstanceOf(Anthropic.AuthenticationError);

    server.enqueue({ kind: 'error', status: 400, body: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long' } } });
    const invalid = (await rejection(generator().generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(invalid.retryable).toBe(false);
    expect(invalid.message).toContain('prompt is too long');
    expect(server.requests).toHaveLength(2);
  });

  test('the default model gets tool_choice auto; a text-only answer is retried', async () => {
    server.enqueue(
      { kind: 'stream', events: textStream('Here is the code: ...', { model: DEFAULT_ANTHROPIC_MODEL }) },
      stream(GOOD_FILES, { model: DEFAULT_ANTHROPIC_MODEL, thinking: 'The user wants a calculator.', preamble: 'Writing the files now.' }),
    );
    const instance = new AnthropicCodeGenerator({ apiKey: API_KEY, baseURL: server.url, streamRetryDelayMs: 1 });
    expect(instance.id).toBe(`anthropic:${DEFAULT_ANTHROPIC_MODEL}`);
    const result = await instance.generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(server.requests.map((request) => request.body.tool_choice.type)).toEqual(['auto', 'auto']);
    expect(userText(server.requests[1]?.body).join('\n')).toContain('did not call the write_files tool');
    expect(server.problems).toEqual([]);
  });

  test('a model that rejects a forced tool choice is switched to auto once', async () => {
    await server.close();
    server = await FakeAnthropicServer.start({ apiKey: API_KEY, modelsRejectingForcedToolChoice: ['claude-haiku-5-5'] });
    server.enqueue(stream(GOOD_FILES, { model: 'claude-haiku-5-5' }), stream(GOOD_FILES, { model: 'claude-haiku-5-5' }));
    const instance = generator({ model: 'claude-haiku-5-5' });
    const { context, progress } = recordingContext();
    await instance.generate(firstRequest(), context);
    await instance.generate(firstRequest(), recordingContext().context);
    expect(server.requests.map((request) => request.body.tool_choice.type)).toEqual(['tool', 'auto', 'auto']);
    expect(progress.some((item) => item.message?.includes('forced tool choice'))).toBe(true);
  });

  test('an explicit toolChoice is respected: forcing a model that rejects it fails permanently', async () => {
    const instance = generator({ model: 'claude-sonnet-5-5', toolChoice: 'forced' });
    const error = (await rejection(instance.generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error.retryable).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  test('an injected client is used as is', async () => {
    server.enqueue(stream());
    const client = new Anthropic({ apiKey: API_KEY, baseURL: server.url, maxRetries: 0 });
    const result = await new AnthropicCodeGenerator({ client, model: MODEL }).generate(firstRequest(), recordingContext().context);
    expect(result.files).toHaveLength(2);
    expect(() => new AnthropicCodeGenerator({ client, apiKey: 'x' })).toThrow(/apiKey/);
  });
});

describe('secret hygiene', () => {
  function collectTexts(error: unknown): string[] {
    const texts: string[] = [];
    const seen = new Set<unknown>();
    let current: unknown = error;
    while (current !== undefined && current !== null && !seen.has(current)) {
      seen.add(current);
      if (current instanceof Error) {
        texts.push(current.message, current.stack ?? '', String(current));
        try {
          texts.push(JSON.stringify(current));
        } catch {
          // A circular structure is fine; the message and stack are what get logged.
        }
        const body: unknown = (current as { error?: unknown }).error;
        if (body !== undefined) texts.push(JSON.stringify(body));
        current = current.cause;
      } else {
        texts.push(String(current));
        current = undefined;
      }
    }
    return texts;
  }

  const echoKey = (status: number, type: string) => (request: { headers: Record<string, unknown> }): FakeReply => ({
    kind: 'error',
    status,
    body: { type: 'error', error: { type, message: `rejected credentials ${String(request.headers.authorization)}` } },
    headers: { 'x-should-retry': 'false' },
  });

  const scenarios: Array<[string, () => void]> = [
    ['401 echoing the key', () => server.enqueue(echoKey(401, 'authentication_error'))],
    ['500 echoing the key', () => server.enqueue(echoKey(500, 'api_error'))],
    [
      'mid-stream error echoing the key',
      () => {
        const reply: FakeReply = {
          kind: 'stream',
          events: [messageStart(MODEL, { input_tokens: 10, output_tokens: 1 }), ping(), errorEvent('api_error', `boom Bearer ${API_KEY}`)],
        };
        server.enqueue(reply, reply);
      },
    ],
    [
      'dropped socket',
      () => {
        const reply: FakeReply = { kind: 'stream', events: [messageStart(MODEL, { input_tokens: 10, output_tokens: 1 }), ...toolUseBlock(0, 'write_files', GOOD_FILES)], dropAfter: 2 };
        server.enqueue(reply, reply);
      },
    ],
  ];

  test.each(scenarios)('the API key never reaches an error or a progress event: %s', async (_name, script) => {
    script();
    const { context, progress } = recordingContext();
    const error = await rejection(generator({ maxRetries: 0, streamRetries: 1 }).generate(firstRequest(), context));
    expect(error).toBeInstanceOf(GenerationError);
    const texts = [...collectTexts(error), ...progress.map((item) => JSON.stringify(item))];
    expect(texts.length).toBeGreaterThan(2);
    for (const text of texts) expect(text).not.toContain(API_KEY);
    // The fake really did echo the key where the scenario says so: the redaction did the work.
    if (_name.includes('echoing')) expect(collectTexts(error).join('\n')).toContain('[redacted]');
  });
});

describe('options', () => {
  test.each<[AnthropicCodeGeneratorOptions, RegExp]>([
    [{ maxTokens: 0 }, /maxTokens/],
    [{ maxTokens: 1.5 }, /maxTokens/],
    [{ model: '' }, /model/],
    [{ streamRetries: -1 }, /streamRetries/],
    [{ streamIdleTimeoutMs: 0 }, /streamIdleTimeoutMs/],
    [{ requestTimeoutMs: -5 }, /requestTimeoutMs/],
    [{ maxRetries: 0.5 }, /maxRetries/],
    [{ toolChoice: 'any' as never }, /toolChoice/],
    [{ effort: 'huge' as never }, /effort/],
    [{ baseURL: 'not a url' }, /baseURL/],
    [{ apiKey: '' }, /apiKey/],
    [{ systemPrompt: ' ' }, /systemPrompt/],
    [{ promptLimits: { maxFailures: 0 } }, /promptLimits\.maxFailures/],
    [{ pricing: { m: { inputUsdPerMillionTokens: -1, outputUsdPerMillionTokens: 1, cacheWriteUsdPerMillionTokens: 1, cacheReadUsdPerMillionTokens: 1 } } }, /pricing\["m"\]\.inputUsdPerMillionTokens/],
    [{ client: {} as never }, /client/],
  ])('a bad option throws a TypeError naming it (%o)', (options, pattern) => {
    expect(() => new AnthropicCodeGenerator({ apiKey: API_KEY, ...options })).toThrow(TypeError);
    expect(() => new AnthropicCodeGenerator({ apiKey: API_KEY, ...options })).toThrow(pattern);
  });

  test('construction does no I/O and the id names the model', () => {
    const instance = new AnthropicCodeGenerator({ apiKey: API_KEY, baseURL: 'http://127.0.0.1:9', model: 'claude-opus-5' });
    expect(instance.id).toBe('anthropic:claude-opus-5');
    expect(server.requests).toHaveLength(0);
  });

  test('a system prompt override replaces the built-in one but the tool instruction stays', async () => {
    server.enqueue(stream());
    await generator({ systemPrompt: 'You are terse.' }).generate(firstRequest(), recordingContext().context);
    const body = server.requests[0]?.body;
    expect(body.system[0].text).toBe('You are terse.');
    expect(userText(body)[1]).toContain('calling the write_files tool');
  });

  test('effort is sent as output_config.effort', async () => {
    server.enqueue(stream());
    await generator({ effort: 'medium' }).generate(firstRequest(), recordingContext().context);
    expect(server.requests[0]?.body.output_config).toEqual({ effort: 'medium' });
  });
});
