import { describe, expect, test } from 'vitest';
import { AnthropicCodeGenerator } from '../../src/generators/anthropic.js';
import { DaytonaSandboxRunner } from '../../src/runners/daytona.js';
import { MAX_TIMER_MS } from '../../src/internal/validate.js';

const options = { apiKey: 'sk-ant-test-0000000000', baseURL: 'http://127.0.0.1:9' };

describe('generator ids carry what changes the output (they are part of the cache key)', () => {
  test('the default configuration keeps the plain anthropic:<model> id', () => {
    expect(new AnthropicCodeGenerator({ ...options, model: 'claude-x' }).id).toBe('anthropic:claude-x');
  });

  test('system prompt, effort, maxTokens, tool choice and prompt limits each give another id', () => {
    const ids = [
      new AnthropicCodeGenerator({ ...options, model: 'claude-x' }).id,
      new AnthropicCodeGenerator({ ...options, model: 'claude-x', systemPrompt: 'Write terse code.' }).id,
      new AnthropicCodeGenerator({ ...options, model: 'claude-x', systemPrompt: 'Write verbose code.' }).id,
      new AnthropicCodeGenerator({ ...options, model: 'claude-x', effort: 'low' }).id,
      new AnthropicCodeGenerator({ ...options, model: 'claude-x', maxTokens: 4_096 }).id,
      new AnthropicCodeGenerator({ ...options, model: 'claude-x', toolChoice: 'auto' }).id,
      new AnthropicCodeGenerator({ ...options, model: 'claude-x', promptLimits: { maxFailures: 3 } }).id,
    ];
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id.startsWith('anthropic:claude-x')).toBe(true);
  });

  test('settings that do not change the output (retries, timeouts) keep the id', () => {
    expect(new AnthropicCodeGenerator({ ...options, model: 'claude-x', streamRetries: 5, requestTimeoutMs: 1_000 }).id).toBe('anthropic:claude-x');
  });
});

describe('every duration option is refused past what a timer can wait (2^31-1 ms fires at once)', () => {
  const tooLong = MAX_TIMER_MS + 1;
  test.each(['streamIdleTimeoutMs', 'requestTimeoutMs', 'streamRetryDelayMs'] as const)('AnthropicCodeGenerator %s', (name) => {
    expect(() => new AnthropicCodeGenerator({ ...options, [name]: tooLong })).toThrow(new RegExp(`${name}.*${MAX_TIMER_MS}`));
    expect(() => new AnthropicCodeGenerator({ ...options, [name]: MAX_TIMER_MS })).not.toThrow();
  });

  test.each(['createTimeoutMs', 'deleteTimeoutMs', 'installTimeoutMs', 'requestTimeoutMs', 'commandGraceMs', 'retryDelayMs'] as const)('DaytonaSandboxRunner %s', (name) => {
    const base = { apiKey: 'dtn-test-key-000000', apiUrl: 'http://127.0.0.1:9/api', onWarning: () => {} };
    expect(() => new DaytonaSandboxRunner({ ...base, [name]: tooLong })).toThrow(new RegExp(`${name}.*${MAX_TIMER_MS}`));
    expect(() => new DaytonaSandboxRunner({ ...base, [name]: MAX_TIMER_MS })).not.toThrow();
  });
});
