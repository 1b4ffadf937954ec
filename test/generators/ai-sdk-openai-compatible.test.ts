import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError } from 'ai';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { PTCAgent } from '../../src/agent.js';
import { GenerationError, PTCAbortError } from '../../src/errors.js';
import { AiSdkCodeGenerator, type AiSdkCodeGeneratorOptions } from '../../src/generators/ai-sdk.js';
import { codeGeneratorConformance } from '../../src/testing/index.js';
import { FakeSandboxRunner } from '../../src/testing/fake-runner.js';
import { junitXml } from '../../src/testing/junit-xml.js';
import { chunk, errorChunk, FakeOpenAIServer, textReply, toolCallChunks, writeFilesReply, type FakeReply } from '../fakes/openai-server.js';
import { firstRequest, GOOD_FILES, makePlan, recordingContext, refinementRequest } from './fixtures.js';

/**
 * End to end through the real `@ai-sdk/openai-compatible` provider and the real `ai` streamText
 * against a loopback fake of the chat-completions wire protocol (what Ollama, vLLM and
 * llama.cpp's server speak).
 */

const API_KEY = 'sk-local-FAKEKEY-do-not-leak-0123456789';
const MODEL = 'qwen3-coder';

let server: FakeOpenAIServer;

beforeEach(async () => {
  server = await FakeOpenAIServer.start({ apiKey: API_KEY });
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await server.close();
});

function provider(options: { includeUsage?: boolean; apiKey?: string } = {}) {
  return createOpenAICompatible({ name: 'local', baseURL: server.baseURL, apiKey: options.apiKey ?? API_KEY, includeUsage: options.includeUsage ?? true });
}

function generator(options: Partial<AiSdkCodeGeneratorOptions> & { includeUsage?: boolean; apiKey?: string } = {}): AiSdkCodeGenerator {
  const { includeUsage, apiKey, ...rest } = options;
  return new AiSdkCodeGenerator({
    model: provider({ ...(includeUsage !== undefined ? { includeUsage } : {}), ...(apiKey !== undefined ? { apiKey } : {}) })(MODEL),
    ...rest,
  });
}

const fastError = (status: number, message: string, type = 'server_error'): FakeReply => ({
  kind: 'error',
  status,
  body: { error: { message, type, param: null, code: null } },
  headers: { 'retry-after-ms': '1' },
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

function userText(body: any): string {
  const user = body.messages.find((message: any) => message.role === 'user');
  return typeof user.content === 'string' ? user.content : user.content.map((part: any) => part.text).join('\n');
}

describe('AiSdkCodeGenerator through @ai-sdk/openai-compatible against the fake server', () => {
  test('happy path: arguments split over many deltas, usage from the final chunk, a well-formed request', async () => {
    server.enqueue(writeFilesReply(GOOD_FILES, { chunkSize: 7, usage: { prompt_tokens: 3000, completion_tokens: 450, cached_tokens: 2000 } }));
    const { context, progress } = recordingContext();
    const instance = generator({ pricing: { inputUsdPerMillionTokens: 0.5, outputUsdPerMillionTokens: 2, cacheReadUsdPerMillionTokens: 0.1 } });
    const result = await instance.generate(firstRequest(), context);

    expect(result.files).toEqual(GOOD_FILES.files);
    expect(result.notes).toBe('Implemented add.');
    expect(result.usage).toMatchObject({ inputTokens: 1000, cacheReadInputTokens: 2000, cacheCreationInputTokens: 0, outputTokens: 450, apiCalls: 1 });
    expect(result.usage.costUsd).toBeCloseTo((1000 * 0.5 + 2000 * 0.1 + 450 * 2) / 1e6, 12);
    expect(instance.id).toMatch(/^ai-sdk:local\.chat:qwen3-coder:[0-9a-f]{12}$/);
    expect(server.problems).toEqual([]);

    const [request] = server.requests;
    expect(request?.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(request?.body.model).toBe(MODEL);
    expect(request?.body.stream_options).toEqual({ include_usage: true });
    expect(request?.body.tool_choice).toEqual({ type: 'function', function: { name: 'write_files' } });
    expect(request?.body.tools).toHaveLength(1);
    expect(request?.body.tools[0].function.parameters.properties.files.items.properties.kind.enum).toEqual(['source', 'test', 'config', 'documentation', 'data']);
    expect(request?.body.max_tokens).toBeUndefined();
    expect(request?.body.messages[0].role).toBe('system');
    expect(request?.body.messages[0].content).toContain('write_files');
    expect(userText(request?.body)).toContain('Write a calculator module with add and divide.');

    const counts = progress.filter((item) => item.message === undefined).map((item) => item.outputTokens);
    expect(counts.length).toBeGreaterThan(20);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(450);
  });

  test("usage on the finish chunk itself (llama.cpp's placement) is read too", async () => {
    server.enqueue(writeFilesReply(GOOD_FILES, { usagePlacement: 'finish', usage: { prompt_tokens: 800, completion_tokens: 120 } }));
    const result = await generator().generate(firstRequest(), recordingContext().context);
    expect(result.usage).toMatchObject({ inputTokens: 800, outputTokens: 120 });
  });

  test('a provider without includeUsage: no stream_options, no usage, cost null and a hint', async () => {
    server.enqueue(writeFilesReply(GOOD_FILES));
    const { context, progress } = recordingContext();
    const result = await generator({ includeUsage: false, pricing: { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 1 } }).generate(firstRequest(), context);
    expect(server.requests[0]?.body.stream_options).toBeUndefined();
    expect(result.usage).toMatchObject({ inputTokens: 0, outputTokens: 0, apiCalls: 1, costUsd: null });
    expect(progress.some((item) => item.message?.includes('includeUsage: true'))).toBe(true);
  });

  test('429 then success: the SDK retries (honouring retry-after-ms) and the call succeeds', async () => {
    server.enqueue(fastError(429, 'Rate limit reached', 'rate_limit_exceeded'), writeFilesReply(GOOD_FILES));
    const result = await generator().generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(server.requests).toHaveLength(2);
    // The SDK's retries are inside one streamText call: one call as far as usage goes.
    expect(result.usage.apiCalls).toBe(1);
  });

  test('429 that persists past the SDK retries is a retryable GenerationError', async () => {
    server.enqueue(fastError(429, 'Rate limit reached'), fastError(429, 'Rate limit reached'));
    const error = (await rejection(generator({ maxRetries: 1 }).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('429');
    expect(error.message).toContain('Rate limit reached');
    expect(server.requests).toHaveLength(2);
  });

  test('a 5xx is retried by the SDK; when it persists, retryable', async () => {
    server.enqueue(fastError(503, 'overloaded'), fastError(503, 'overloaded'), fastError(503, 'overloaded'));
    const error = (await rejection(generator().generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error.retryable).toBe(true);
    expect(server.requests).toHaveLength(3);
  });

  test('401 (wrong key) is not retried, by the SDK or by the run', async () => {
    const error = (await rejection(generator({ apiKey: 'sk-wrong-key-000000000' }).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('401');
    expect(error.message).toContain('Incorrect API key provided.');
    expect(APICallError.isInstance(error.cause)).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  test('403 is not retryable either', async () => {
    server.enqueue({ kind: 'error', status: 403, body: { error: { message: 'Project does not have access to model', type: 'invalid_request_error', code: 'model_not_found' } } });
    const error = (await rejection(generator().generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('403');
  });

  test('a malformed tool call (arguments that are not JSON) is retried once with the problem stated', async () => {
    server.enqueue(writeFilesReply(undefined, { rawArguments: '{"files": [{"path": "calculator.py", "content": "x = 1' }), writeFilesReply(GOOD_FILES));
    const { context, progress } = recordingContext();
    const result = await generator().generate(firstRequest(), context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(result.usage.apiCalls).toBe(2);
    expect(userText(server.requests[1]?.body)).toContain('input was not valid JSON');
    expect(progress.some((item) => item.message?.includes('asking again'))).toBe(true);
  });

  test('a server that ignores the forced tool and answers in text, twice: GENERATION_OUTPUT_INVALID', async () => {
    server.enqueue(textReply('Sure! Here is calculator.py: def add(a, b): ...'), textReply('Sure! Again in text.'));
    const error = (await rejection(generator().generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error.code).toBe('GENERATION_OUTPUT_INVALID');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('did not call the write_files tool');
    expect(userText(server.requests[1]?.body)).toContain('Sure! Here is calculator.py');
    expect(error.usage?.apiCalls).toBe(2);
  });

  test('tool_choice required and auto go out as OpenAI spells them', async () => {
    await server.close();
    server = await FakeOpenAIServer.start({ apiKey: API_KEY, requireForcedToolChoice: false });
    server.enqueue(writeFilesReply(GOOD_FILES), writeFilesReply(GOOD_FILES));
    await generator({ toolChoice: 'required' }).generate(firstRequest(), recordingContext().context);
    await generator({ toolChoice: 'auto' }).generate(firstRequest(), recordingContext().context);
    expect(server.requests.map((request) => request.body.tool_choice)).toEqual(['required', 'auto']);
  });

  test('options reach the wire: max_tokens from the budget, temperature, seed', async () => {
    server.enqueue(writeFilesReply(GOOD_FILES));
    await generator({ maxOutputTokens: 8000, temperature: 0.1, seed: 42 }).generate(firstRequest({ remainingTokens: 6000 }), recordingContext().context);
    expect(server.requests[0]?.body).toMatchObject({ max_tokens: 6000, temperature: 0.1, seed: 42 });
  });

  test('a truncated answer (finish_reason length) is retried with the limit stated', async () => {
    server.enqueue(writeFilesReply(undefined, { rawArguments: JSON.stringify(GOOD_FILES).slice(0, 50), finishReason: 'length' }), writeFilesReply(GOOD_FILES));
    const result = await generator({ maxOutputTokens: 2048 }).generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(userText(server.requests[1]?.body)).toContain('cut off at the output limit of 2048 tokens');
  });

  test('an error chunk inside a 200 stream is a retryable failure with its message', async () => {
    const reply = writeFilesReply(GOOD_FILES);
    server.enqueue({ ...reply, chunks: [...reply.chunks.slice(0, 4), errorChunk('The model crashed while generating')] });
    const error = (await rejection(generator().generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('The model crashed while generating');
  });

  test('a connection dropped mid-stream is a retryable failure, and its streamed output is counted', async () => {
    server.enqueue({ ...writeFilesReply(GOOD_FILES, { chunkSize: 8 }), dropAfter: 10 });
    const error = (await rejection(generator().generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.retryable).toBe(true);
    expect(error.usage?.apiCalls).toBe(1);
    expect(error.usage?.outputTokens).toBe(0);
    // Output streamed but no count reported: the cost of that call is unknown.
    expect(error.usage?.costUsd).toBeNull();
  });

  test('aborting mid-stream rejects with ABORTED and the server sees the connection close', async () => {
    server.enqueue({ ...writeFilesReply(GOOD_FILES, { chunkSize: 4 }), chunkDelayMs: 5 });
    const controller = new AbortController();
    const context = {
      signal: controller.signal,
      onProgress: (progress: { outputTokens: number }) => {
        if (progress.outputTokens > 5) controller.abort();
      },
    };
    const error = await rejection(generator().generate(firstRequest(), context));
    expect(error).toBeInstanceOf(PTCAbortError);
    expect((error as PTCAbortError).code).toBe('ABORTED');
    const [request] = server.requests;
    await request?.closed;
    expect(request?.closedEarly).toBe(true);
    expect(server.requests).toHaveLength(1);
  });

  test('a stalled stream is abandoned after chunkTimeoutMs and the connection is closed', async () => {
    server.enqueue({ ...writeFilesReply(GOOD_FILES), hangAfter: 3 });
    const error = (await rejection(generator({ chunkTimeoutMs: 200 }).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('timed out');
    await server.requests[0]?.closed;
    expect(server.requests[0]?.closedEarly).toBe(true);
  });

  test('iteration 2 carries the previous files and failures', async () => {
    server.enqueue(writeFilesReply(GOOD_FILES));
    await generator().generate(refinementRequest(), recordingContext().context);
    const text = userText(server.requests[0]?.body);
    expect(text).toContain('Iteration 2');
    expect(text).toContain('return a - b');
    expect(text).toContain('assert -1 == 3');
  });

  test('text before the tool call does not disturb the answer', async () => {
    const reply = writeFilesReply(GOOD_FILES);
    server.enqueue({ ...reply, chunks: [chunk(MODEL, { role: 'assistant', content: 'Writing the files now.' }), ...toolCallChunks(MODEL, 'write_files', JSON.stringify(GOOD_FILES)), chunk(MODEL, {}, 'tool_calls')] });
    const result = await generator().generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
  });
});

test('the README example constructs as written, with no I/O, and its id has the documented shape', () => {
  const ollama = createOpenAICompatible({ name: 'ollama', baseURL: 'http://127.0.0.1:11434/v1', includeUsage: true });
  const instance = new AiSdkCodeGenerator({ model: ollama('qwen3-coder'), temperature: 0.2 });
  expect(instance.id).toMatch(/^ai-sdk:ollama\.chat:qwen3-coder:[0-9a-f]{12}$/);
  expect(instance.provider).toBe('ollama.chat');
});

describe('secret hygiene', () => {
  test('a key the server echoes never reaches the error or its cause', async () => {
    // The generator cannot see a key inside a provider; it redacts the secret-looking variables
    // of the environment, where such keys live.
    vi.stubEnv('LOCAL_LLM_API_KEY', API_KEY);
    server.enqueue((request) => ({
      kind: 'error',
      status: 500,
      body: { error: { message: `upstream rejected ${String(request.headers.authorization)}`, type: 'server_error', param: null, code: null } },
    }));
    const error = (await rejection(generator({ maxRetries: 0 }).generate(firstRequest(), recordingContext().context))) as GenerationError;
    const texts: string[] = [];
    let current: unknown = error;
    while (current instanceof Error) {
      texts.push(current.message, current.stack ?? '', JSON.stringify((current as { responseBody?: unknown }).responseBody ?? ''));
      current = current.cause;
    }
    expect(texts.join('\n')).toContain('[redacted]');
    for (const text of texts) expect(text).not.toContain(API_KEY);
  });
});

describe('PTCAgent with the AI SDK generator', () => {
  test('a red then a green iteration through the fake server', async () => {
    server.enqueue(
      writeFilesReply(GOOD_FILES, { usage: { prompt_tokens: 3000, completion_tokens: 400 } }),
      writeFilesReply(GOOD_FILES, { usage: { prompt_tokens: 3500, completion_tokens: 400, cached_tokens: 2500 } }),
    );
    const runner = new FakeSandboxRunner({
      results: [
        { failed: [{ name: 'test_add', message: 'assert -1 == 3' }] },
        { report: junitXml([{ name: 'test_add', suite: 'tests.test_calculator' }, { name: 'test_add_acceptance', suite: 'tests.test_acceptance' }]) },
      ],
    });
    const instance = generator({ pricing: { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 4, cacheReadUsdPerMillionTokens: 0.25 } });
    const agent = new PTCAgent({ generator: instance, runner });
    const bundle = await agent.execute(makePlan());

    expect(bundle.status).toBe('success');
    expect(bundle.generator).toBe(instance.id);
    expect(bundle.iterations).toHaveLength(2);
    expect(bundle.usage).toMatchObject({ inputTokens: 4000, cacheReadInputTokens: 2500, outputTokens: 800, apiCalls: 2 });
    expect(bundle.usage.costUsd).toBeCloseTo((4000 * 1 + 2500 * 0.25 + 800 * 4) / 1e6, 12);
    expect(userText(server.requests[1]?.body)).toContain('assert -1 == 3');
    expect(server.problems).toEqual([]);
  });
});

describe('conformance through the fake server', () => {
  codeGeneratorConformance(test, () => {
    // Enough answers for the case that calls the model; the aborted case sends no request.
    server.enqueue(writeFilesReply(GOOD_FILES));
    return generator();
  });
});
