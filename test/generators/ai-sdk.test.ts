import type { LanguageModelV3StreamPart, LanguageModelV3Usage } from '@ai-sdk/provider';
import { APICallError } from 'ai';
import { convertArrayToReadableStream, MockLanguageModelV3 } from 'ai/test';
import { describe, expect, test } from 'vitest';
import { GenerationError, PTCAbortError } from '../../src/errors.js';
import { AiSdkCodeGenerator, countUsage, type AiSdkCodeGeneratorOptions } from '../../src/generators/ai-sdk.js';
import { codeGeneratorConformance } from '../../src/testing/index.js';
import { firstRequest, GOOD_FILES, recordingContext, refinementRequest } from './fixtures.js';

/**
 * The generator against the AI SDK's own mock model (`ai/test`, spec v3 in ai 6): what the SDK
 * hands the model, and how the generator reads what the model streams back. The wire protocol
 * is covered end to end in ai-sdk-openai-compatible.test.ts.
 */

/** `output: null` = the provider did not report output tokens. */
function usage(input: Partial<LanguageModelV3Usage['inputTokens']> = {}, output: number | null = 200): LanguageModelV3Usage {
  return {
    inputTokens: { total: 1000, noCache: 1000, cacheRead: undefined, cacheWrite: undefined, ...input },
    outputTokens: { total: output ?? undefined, text: output ?? undefined, reasoning: undefined },
  };
}

interface AnswerOptions {
  /** Characters of tool input per delta. @default 16 */
  chunkSize?: number;
  usage?: LanguageModelV3Usage;
  finishReason?: 'stop' | 'length' | 'content-filter' | 'tool-calls';
  /** Raw tool input instead of JSON.stringify(input). */
  rawInput?: string;
  /** Text before the tool call. */
  text?: string;
  /** No tool call at all. */
  noTool?: boolean;
}

function answer(input: unknown = GOOD_FILES, options: AnswerOptions = {}): LanguageModelV3StreamPart[] {
  const json = options.rawInput ?? JSON.stringify(input);
  const size = options.chunkSize ?? 16;
  const parts: LanguageModelV3StreamPart[] = [
    { type: 'stream-start', warnings: [] },
    { type: 'response-metadata', id: 'resp-1', modelId: 'mock-model-id', timestamp: new Date(0) },
  ];
  if (options.text !== undefined) {
    parts.push({ type: 'text-start', id: 't' }, { type: 'text-delta', id: 't', delta: options.text }, { type: 'text-end', id: 't' });
  }
  if (!options.noTool) {
    parts.push({ type: 'tool-input-start', id: 'call-1', toolName: 'write_files' });
    for (let offset = 0; offset < json.length; offset += size) {
      parts.push({ type: 'tool-input-delta', id: 'call-1', delta: json.slice(offset, offset + size) });
    }
    parts.push({ type: 'tool-input-end', id: 'call-1' }, { type: 'tool-call', toolCallId: 'call-1', toolName: 'write_files', input: json });
  }
  const finish = options.finishReason ?? (options.noTool ? 'stop' : 'tool-calls');
  parts.push({ type: 'finish', finishReason: { unified: finish, raw: finish }, usage: options.usage ?? usage() });
  return parts;
}

function model(...answers: LanguageModelV3StreamPart[][]): MockLanguageModelV3 {
  const queue = [...answers];
  return new MockLanguageModelV3({
    provider: 'mock.chat',
    modelId: 'mock-model',
    doStream: async () => {
      const next = queue.shift();
      if (!next) throw new Error('no scripted answer left');
      return { stream: convertArrayToReadableStream(next) };
    },
  });
}

function generator(languageModel: MockLanguageModelV3, options: Partial<AiSdkCodeGeneratorOptions> = {}): AiSdkCodeGenerator {
  return new AiSdkCodeGenerator({ model: languageModel, maxRetries: 0, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject');
}

/** The text parts of the user message of a recorded call. */
function userTexts(languageModel: MockLanguageModelV3, call = 0): string[] {
  const message = languageModel.doStreamCalls[call]?.prompt.find((item) => item.role === 'user');
  if (!message || message.role !== 'user') return [];
  return message.content.map((part) => (part.type === 'text' ? part.text : ''));
}

describe('AiSdkCodeGenerator with MockLanguageModelV3', () => {
  test('happy path: files, notes, usage, progress, and what the SDK hands the model', async () => {
    const languageModel = model(answer(GOOD_FILES, { usage: usage({ total: 1500, noCache: 1000, cacheRead: 500 }, 300) }));
    const { context, progress } = recordingContext();
    const result = await generator(languageModel).generate(firstRequest(), context);

    expect(result.files).toEqual(GOOD_FILES.files);
    expect(result.notes).toBe('Implemented add.');
    expect(result.usage).toEqual({ inputTokens: 1000, outputTokens: 300, cacheCreationInputTokens: 0, cacheReadInputTokens: 500, apiCalls: 1, costUsd: null });

    const call = languageModel.doStreamCalls[0];
    expect(call?.toolChoice).toEqual({ type: 'tool', toolName: 'write_files' });
    const tool = call?.tools?.[0];
    expect(tool?.type === 'function' && tool.name).toBe('write_files');
    const schema = tool?.type === 'function' ? (tool.inputSchema as any) : undefined;
    expect(schema.properties.files.items.properties.kind.enum).toEqual(['source', 'test', 'config', 'documentation', 'data']);
    expect(schema.required).toEqual(['files']);
    expect(call?.maxOutputTokens).toBeUndefined();
    expect(call?.temperature).toBeUndefined();
    const system = call?.prompt[0];
    expect(system?.role).toBe('system');
    expect(system?.role === 'system' && system.content).toContain('Answer by calling the write_files tool exactly once');
    const [plan, instructions] = userTexts(languageModel);
    expect(plan).toContain('Write a calculator module with add and divide.');
    expect(instructions).toContain('Iteration 1');
    expect(instructions).toContain('calling the write_files tool exactly once');

    const counts = progress.filter((item) => item.message === undefined).map((item) => item.outputTokens);
    expect(counts.length).toBeGreaterThan(5);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    expect(counts.at(-1)).toBe(300);
  });

  test('invalid tool input is retried once with the problem stated, then succeeds', async () => {
    const languageModel = model(answer({ files: [{ path: 'calculator.py', content: 'x = 1\n', kind: 'binary' }] }), answer(GOOD_FILES));
    const { context, progress } = recordingContext();
    const result = await generator(languageModel).generate(firstRequest(), context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(result.usage.apiCalls).toBe(2);
    expect(result.usage.inputTokens).toBe(2000);
    const retry = userTexts(languageModel, 1);
    expect(retry).toHaveLength(3);
    expect(retry[2]).toContain('could not be used');
    expect(retry[2]).toContain('files.0.kind');
    // The retry keeps the plan part byte for byte (a cacheable prefix).
    expect(retry[0]).toBe(userTexts(languageModel, 0)[0]);
    expect(progress.some((item) => item.message?.includes('asking again'))).toBe(true);
  });

  test('unusable output twice becomes GENERATION_OUTPUT_INVALID with the usage of both calls', async () => {
    const languageModel = model(answer({ files: [] }), answer({ nothing: true }));
    const error = (await rejection(generator(languageModel).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.code).toBe('GENERATION_OUTPUT_INVALID');
    expect(error.retryable).toBe(true);
    expect(error.usage).toMatchObject({ apiCalls: 2, inputTokens: 2000, outputTokens: 400 });
  });

  test('tool input that is not JSON is an invalid answer, retried with the parse error stated', async () => {
    const languageModel = model(answer(undefined, { rawInput: '{"files": [oops' }), answer(GOOD_FILES));
    const result = await generator(languageModel).generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(userTexts(languageModel, 1)[2]).toContain('input was not valid JSON');
  });

  test('a text-only answer (a server that ignored the forced tool) is retried', async () => {
    const languageModel = model(answer(undefined, { noTool: true, text: 'Here is the code: def add...' }), answer(GOOD_FILES, { text: 'Writing files.' }));
    const result = await generator(languageModel).generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(userTexts(languageModel, 1)[2]).toContain('did not call the write_files tool. It answered with text instead: "Here is the code: def add..."');
  });

  test('a truncated answer (finish reason length) is never salvaged', async () => {
    const truncated = JSON.stringify(GOOD_FILES).slice(0, 60);
    const languageModel = model(answer(undefined, { rawInput: truncated, finishReason: 'length' }), answer(GOOD_FILES));
    const result = await generator(languageModel, { maxOutputTokens: 5000 }).generate(firstRequest(), recordingContext().context);
    expect(result.files).toEqual(GOOD_FILES.files);
    expect(userTexts(languageModel, 1)[2]).toContain('cut off at the output limit of 5000 tokens');
    expect(languageModel.doStreamCalls[0]?.maxOutputTokens).toBe(5000);
  });

  test('a content filter stop is retried, then reported as invalid output', async () => {
    const filtered = () => answer(undefined, { noTool: true, text: 'I cannot help.', finishReason: 'content-filter' });
    const error = (await rejection(generator(model(filtered(), filtered())).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error.code).toBe('GENERATION_OUTPUT_INVALID');
    expect(error.message).toContain('content-filter');
  });

  test('maxOutputTokens follows the remaining token budget, with a floor', async () => {
    const languageModel = model(answer(), answer(), answer());
    await generator(languageModel).generate(firstRequest({ remainingTokens: 5000 }), recordingContext().context);
    await generator(languageModel).generate(firstRequest({ remainingTokens: 10 }), recordingContext().context);
    await generator(languageModel, { maxOutputTokens: 2000 }).generate(firstRequest({ remainingTokens: 5000 }), recordingContext().context);
    expect(languageModel.doStreamCalls.map((call) => call.maxOutputTokens)).toEqual([5000, 1024, 2000]);
  });

  test('sampling options reach the model', async () => {
    const languageModel = model(answer());
    await generator(languageModel, { temperature: 0.2, topP: 0.9, topK: 40, seed: 7, providerOptions: { mock: { effort: 'low' } }, toolChoice: 'required' }).generate(
      firstRequest(),
      recordingContext().context,
    );
    const call = languageModel.doStreamCalls[0];
    expect(call).toMatchObject({ temperature: 0.2, topP: 0.9, topK: 40, seed: 7, providerOptions: { mock: { effort: 'low' } }, toolChoice: { type: 'required' } });
  });

  test('iteration 2 states the previous files and failures', async () => {
    const languageModel = model(answer());
    await generator(languageModel).generate(refinementRequest(), recordingContext().context);
    const instructions = userTexts(languageModel)[1] ?? '';
    expect(instructions).toContain('Iteration 2');
    expect(instructions).toContain('return a - b');
    expect(instructions).toContain('assert -1 == 3');
  });

  test('a system prompt override replaces the built-in one; the tool instruction stays', async () => {
    const languageModel = model(answer());
    await generator(languageModel, { systemPrompt: 'You are terse.' }).generate(firstRequest(), recordingContext().context);
    expect(languageModel.doStreamCalls[0]?.prompt[0]).toEqual({ role: 'system', content: 'You are terse.' });
    expect(userTexts(languageModel)[1]).toContain('write_files');
  });
});

describe('usage and cost', () => {
  test('countUsage: the SDK usage in the bundle terms; missing fields are 0 or unknown, never the whole', () => {
    expect(countUsage(undefined)).toEqual({ inputTokens: undefined, outputTokens: undefined, cacheReadTokens: 0, cacheWriteTokens: 0 });
    const partial = {
      inputTokens: undefined,
      outputTokens: 120,
      totalTokens: undefined,
      inputTokenDetails: { noCacheTokens: undefined, cacheReadTokens: undefined, cacheWriteTokens: undefined },
      outputTokenDetails: { textTokens: undefined, reasoningTokens: undefined },
    };
    expect(countUsage(partial)).toEqual({ inputTokens: undefined, outputTokens: 120, cacheReadTokens: 0, cacheWriteTokens: 0 });
    // No noCache detail: derived from the total minus the cached parts.
    const derived = { ...partial, inputTokens: 1000, inputTokenDetails: { noCacheTokens: undefined, cacheReadTokens: 300, cacheWriteTokens: 200 } };
    expect(countUsage(derived)).toEqual({ inputTokens: 500, outputTokens: 120, cacheReadTokens: 300, cacheWriteTokens: 200 });
    // The deprecated cachedInputTokens still counts when the details are missing.
    expect(countUsage({ ...partial, inputTokens: 1000, cachedInputTokens: 400 } as never).cacheReadTokens).toBe(400);
  });

  test('cost from the pricing option, cache prices defaulting to the input price', async () => {
    const languageModel = model(answer(GOOD_FILES, { usage: usage({ total: 3000, noCache: 1000, cacheRead: 1500, cacheWrite: 500 }, 2000) }));
    const result = await generator(languageModel, { pricing: { inputUsdPerMillionTokens: 2, outputUsdPerMillionTokens: 8, cacheReadUsdPerMillionTokens: 0.5 } }).generate(
      firstRequest(),
      recordingContext().context,
    );
    expect(result.usage).toMatchObject({ inputTokens: 1000, cacheReadInputTokens: 1500, cacheCreationInputTokens: 500, outputTokens: 2000 });
    expect(result.usage.costUsd).toBeCloseTo((1000 * 2 + 1500 * 0.5 + 500 * 2 + 2000 * 8) / 1e6, 12);
  });

  test('a provider that reports no usage: tokens 0, cost unknown (null), and one warning', async () => {
    const none = usage({ total: undefined, noCache: undefined }, null);
    const languageModel = model(answer(GOOD_FILES, { usage: none }), answer(GOOD_FILES, { usage: none }));
    const instance = generator(languageModel, { pricing: { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 1 } });
    const { context, progress } = recordingContext();
    const result = await instance.generate(firstRequest(), context);
    expect(result.usage).toEqual({ inputTokens: 0, outputTokens: 0, cacheCreationInputTokens: 0, cacheReadInputTokens: 0, apiCalls: 1, costUsd: null });
    const second = recordingContext();
    await instance.generate(firstRequest(), second.context);
    const warnings = [...progress, ...second.progress].filter((item) => item.message?.includes('reported no token usage'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain('includeUsage: true');
  });

  test('partly reported usage keeps what was reported', async () => {
    const languageModel = model(answer(GOOD_FILES, { usage: usage({ total: undefined, noCache: undefined }, 250) }));
    const result = await generator(languageModel, { pricing: { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 1 } }).generate(firstRequest(), recordingContext().context);
    expect(result.usage).toMatchObject({ inputTokens: 0, outputTokens: 250, costUsd: null });
  });
});

describe('failures', () => {
  function failing(error: unknown): MockLanguageModelV3 {
    return new MockLanguageModelV3({
      provider: 'mock.chat',
      modelId: 'mock-model',
      doStream: async () => {
        throw error;
      },
    });
  }
  const apiError = (statusCode: number) =>
    new APICallError({
      message: `status ${statusCode}`,
      url: 'http://127.0.0.1/v1/chat/completions',
      requestBodyValues: {},
      statusCode,
      responseBody: '{}',
      // So the SDK's retry waits 1 ms instead of its 2 s backoff.
      responseHeaders: { 'retry-after-ms': '1' },
      isRetryable: statusCode === 429 || statusCode >= 500,
    });

  test.each([401, 403, 400, 404])('HTTP %i is a permanent failure (not retryable)', async (status) => {
    const error = (await rejection(generator(failing(apiError(status))).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.code).toBe('GENERATION_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain(String(status));
    expect(error.cause).toBeInstanceOf(APICallError);
    expect(error.usage).toMatchObject({ apiCalls: 1, costUsd: null });
  });

  test.each([429, 500, 503])('HTTP %i after the SDK retries is retryable, wrapped in its RetryError', async (status) => {
    const languageModel = failing(apiError(status));
    const error = (await rejection(
      generator(languageModel, { maxRetries: 1 }).generate(firstRequest(), recordingContext().context),
    )) as GenerationError;
    expect(error.retryable).toBe(true);
    expect(error.message).toContain(String(status));
    // The SDK's own retry ran first.
    expect(languageModel.doStreamCalls).toHaveLength(2);
  });

  test('a failed call that produced nothing is priced at zero when a price is known', async () => {
    const error = (await rejection(
      generator(failing(apiError(401)), { pricing: { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 1 } }).generate(firstRequest(), recordingContext().context),
    )) as GenerationError;
    expect(error.usage?.costUsd).toBe(0);
  });

  test('an error part mid-stream is a retryable failure', async () => {
    const parts = answer().slice(0, 5);
    const languageModel = model([...parts, { type: 'error', error: new Error('upstream hiccup') }]);
    const error = (await rejection(generator(languageModel).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('upstream hiccup');
  });

  test('aborting mid-stream rejects with ABORTED', async () => {
    const controller = new AbortController();
    const parts = answer(GOOD_FILES, { chunkSize: 4 });
    const languageModel = new MockLanguageModelV3({
      provider: 'mock.chat',
      modelId: 'mock-model',
      doStream: async ({ abortSignal }) => {
        let index = 0;
        const stream = new ReadableStream<LanguageModelV3StreamPart>({
          async pull(streamController) {
            if (abortSignal?.aborted) return streamController.error(abortSignal.reason);
            const part = parts[index++];
            if (part === undefined) return streamController.close();
            await new Promise((resolve) => setTimeout(resolve, 1));
            streamController.enqueue(part);
          },
        });
        return { stream };
      },
    });
    const context = {
      signal: controller.signal,
      onProgress: (progress: { outputTokens: number }) => {
        if (progress.outputTokens > 3) controller.abort();
      },
    };
    const error = await rejection(generator(languageModel).generate(firstRequest(), context));
    expect(error).toBeInstanceOf(PTCAbortError);
    expect(languageModel.doStreamCalls).toHaveLength(1);
  });

  test('an already-aborted signal calls no model', async () => {
    const controller = new AbortController();
    controller.abort();
    const languageModel = model(answer());
    const error = await rejection(generator(languageModel).generate(firstRequest(), recordingContext(controller.signal).context));
    expect(error).toBeInstanceOf(PTCAbortError);
    expect(languageModel.doStreamCalls).toHaveLength(0);
  });

  test('a stalled stream is abandoned after chunkTimeoutMs: a retryable failure', async () => {
    const parts = answer().slice(0, 4);
    const languageModel = new MockLanguageModelV3({
      provider: 'mock.chat',
      modelId: 'mock-model',
      doStream: async ({ abortSignal }) => {
        let index = 0;
        const stream = new ReadableStream<LanguageModelV3StreamPart>({
          pull(streamController) {
            const part = parts[index++];
            if (part !== undefined) return streamController.enqueue(part);
            // Then nothing, until the SDK gives up.
            return new Promise<void>((resolve) => abortSignal?.addEventListener('abort', () => {
              streamController.error(abortSignal.reason);
              resolve();
            }));
          },
        });
        return { stream };
      },
    });
    const started = Date.now();
    const error = (await rejection(generator(languageModel, { chunkTimeoutMs: 150 }).generate(firstRequest(), recordingContext().context))) as GenerationError;
    expect(error).toBeInstanceOf(GenerationError);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('timed out');
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

describe('id and options', () => {
  const base = () => new MockLanguageModelV3({ provider: 'mock.chat', modelId: 'mock-model' });

  test('the id names provider and model and follows every output-shaping option', () => {
    const id = (options: Partial<AiSdkCodeGeneratorOptions> = {}) => new AiSdkCodeGenerator({ model: base(), ...options }).id;
    expect(id()).toMatch(/^ai-sdk:mock\.chat:mock-model:[0-9a-f]{12}$/);
    expect(id()).toBe(id());
    // Options that do not change the output leave the id alone.
    expect(id({ maxRetries: 5, timeoutMs: 1000, chunkTimeoutMs: 2000, pricing: { inputUsdPerMillionTokens: 1, outputUsdPerMillionTokens: 2 } })).toBe(id());
    const variants = [
      id({ temperature: 0.3 }),
      id({ temperature: 0.4 }),
      id({ topP: 0.5 }),
      id({ topK: 10 }),
      id({ seed: 1 }),
      id({ maxOutputTokens: 4096 }),
      id({ systemPrompt: 'You are terse.' }),
      id({ toolChoice: 'auto' }),
      id({ providerOptions: { openai: { reasoningEffort: 'low' } } }),
      id({ promptLimits: { maxFailures: 3 } }),
      new AiSdkCodeGenerator({ model: new MockLanguageModelV3({ provider: 'mock.chat', modelId: 'other-model' }) }).id,
    ];
    expect(new Set([id(), ...variants]).size).toBe(variants.length + 1);
    // Key order inside providerOptions does not matter.
    expect(id({ providerOptions: { a: { x: 1, y: 2 } } })).toBe(id({ providerOptions: { a: { y: 2, x: 1 } } }));
  });

  test.each<[Partial<AiSdkCodeGeneratorOptions>, RegExp]>([
    [{ model: 'openai/gpt-5' as never }, /model must be a model object/],
    [{ model: {} as never }, /model must be an AI SDK language model/],
    [{ maxOutputTokens: 0 }, /maxOutputTokens/],
    [{ maxOutputTokens: 1.5 }, /maxOutputTokens/],
    [{ temperature: -1 }, /temperature/],
    [{ temperature: Number.NaN }, /temperature/],
    [{ topP: 2 }, /topP/],
    [{ topK: 0 }, /topK/],
    [{ seed: 0.5 }, /seed/],
    [{ providerOptions: [] as never }, /providerOptions/],
    [{ systemPrompt: ' ' }, /systemPrompt/],
    [{ toolChoice: 'any' as never }, /toolChoice/],
    [{ pricing: { inputUsdPerMillionTokens: -1, outputUsdPerMillionTokens: 1 } }, /pricing\.inputUsdPerMillionTokens/],
    [{ pricing: { inputUsdPerMillionTokens: 1 } as never }, /pricing\.outputUsdPerMillionTokens/],
    [{ maxRetries: -1 }, /maxRetries/],
    [{ timeoutMs: 0 }, /timeoutMs/],
    [{ chunkTimeoutMs: 2 ** 31 }, /chunkTimeoutMs must be an integer number of ms between 1 and 2147483647/],
    [{ promptLimits: { maxFailures: 0 } }, /promptLimits\.maxFailures/],
  ])('a bad option throws a TypeError naming it (%o)', (options, pattern) => {
    const create = () => new AiSdkCodeGenerator({ model: base(), ...options });
    expect(create).toThrow(TypeError);
    expect(create).toThrow(pattern);
  });

  test('construction calls no model', () => {
    const languageModel = model(answer());
    void new AiSdkCodeGenerator({ model: languageModel });
    expect(languageModel.doStreamCalls).toHaveLength(0);
  });
});

describe('conformance with MockLanguageModelV3', () => {
  codeGeneratorConformance(test, () => {
    const languageModel = new MockLanguageModelV3({
      provider: 'mock.chat',
      modelId: 'mock-model',
      doStream: async () => ({ stream: convertArrayToReadableStream(answer()) }),
    });
    return new AiSdkCodeGenerator({ model: languageModel });
  });
});
