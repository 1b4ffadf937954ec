import { describe, expect, test } from 'vitest';
import { AiSdkCodeGenerator } from '../../src/generators/ai-sdk.js';
import { AnthropicCodeGenerator } from '../../src/generators/anthropic.js';
import { KeyvCache, LocalSandboxRunner, PlanValidationError, PTCAgent, PYTHON_PYTEST, parsePlan } from '../../src/index.js';
import { createRedisCache } from '../../src/caches/redis.js';
import { DaytonaSandboxRunner } from '../../src/runners/daytona.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FIXED, PLAN } from '../helpers.js';

const generator = new ScriptedCodeGenerator({ files: FIXED });

describe('unknown option names are a TypeError naming the key and the closest known one', () => {
  test.each([
    ['PTCAgent', () => new PTCAgent({ generator, maxConcurent: 3 } as never), /PTCAgent: unknown option "maxConcurent" \(did you mean "maxConcurrent"\?\)/],
    ['PTCAgent fileLimits', () => new PTCAgent({ generator, fileLimits: { maxFile: 3 } } as never), /unknown option "maxFile" \(did you mean "maxFiles"\?\)/],
    ['LocalSandboxRunner', () => new LocalSandboxRunner({ isolaton: 'none' } as never), /LocalSandboxRunner: unknown option "isolaton" \(did you mean "isolation"\?\)/],
    ['AnthropicCodeGenerator', () => new AnthropicCodeGenerator({ apiKey: 'sk-ant-test-000000', maxToken: 5 } as never), /unknown option "maxToken" \(did you mean "maxTokens"\?\)/],
    ['AiSdkCodeGenerator', () => new AiSdkCodeGenerator({ model: {} as never, temprature: 0 } as never), /unknown option "temprature" \(did you mean "temperature"\?\)/],
    ['KeyvCache', () => new KeyvCache({ maxEntry: 5 } as never), /unknown option "maxEntry" \(did you mean "maxEntries"\?\)/],
    ['createRedisCache', () => createRedisCache('redis://127.0.0.1:9', { namespce: 'x' } as never), /unknown option "namespce" \(did you mean "namespace"\?\)/],
    ['DaytonaSandboxRunner', () => new DaytonaSandboxRunner({ apiKey: 'k', apiUrl: 'http://127.0.0.1:9/api', createTimeout: 5 } as never), /unknown option "createTimeout" \(did you mean "createTimeoutMs"\?\)/],
  ])('%s', (_name, build, message) => {
    expect(build).toThrow(TypeError);
    expect(build).toThrow(message);
  });

  test('a name far from every known one gets no suggestion', () => {
    expect(() => new PTCAgent({ generator, banana: 1 } as never)).toThrow(/unknown option "banana"$/);
  });
});

describe('plans refuse unknown fields, with a suggestion', () => {
  test.each([
    [{ ...PLAN, maxIteration: 3 }, 'maxIteration', 'maxIterations', ''],
    [{ ...PLAN, timeout: 5_000 }, 'timeout', 'timeoutMs', ''],
    [{ ...PLAN, budget: { maxToken: 5 } }, 'maxToken', 'maxTokens', 'budget'],
  ])('%o', (input, key, suggestion, path) => {
    let error: unknown;
    try {
      parsePlan(input);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PlanValidationError);
    expect((error as PlanValidationError).issues).toEqual([{ path, message: `unknown field "${key}" (did you mean "${suggestion}"?)` }]);
  });
});

describe('secrets and test presets are validated when the agent is built', () => {
  test.each([
    [{ secrets: 'a-long-secret-value' }, /secrets must be an array of strings/],
    [{ secrets: [1] }, /secrets\[0\] must be a string/],
    [{ secrets: ['short'] }, /secrets\[0\] is shorter than 8 characters/],
    [{ testPresets: { ruby: PYTHON_PYTEST } }, /unknown option "ruby"/],
    [{ testPresets: { python: { ...PYTHON_PYTEST, requiredDependencies: undefined } } }, /testPresets\.python\.requiredDependencies/],
    [{ testPresets: { python: { ...PYTHON_PYTEST, command: [] } } }, /testPresets\.python\.command/],
    [{ testPresets: { python: { ...PYTHON_PYTEST, reportPath: '../out.xml' } } }, /testPresets\.python\.reportPath/],
    [{ testPresets: { python: { ...PYTHON_PYTEST, language: 'javascript' } } }, /testPresets\.python\.language is javascript/],
    [{ testPresets: { python: { ...PYTHON_PYTEST, comand: ['x'] } } }, /testPresets\.python/],
  ])('%o', (options, message) => {
    expect(() => new PTCAgent({ generator, ...options } as never)).toThrow(message);
  });

  test('a valid custom preset is used', async () => {
    const runner = new FakeSandboxRunner();
    const agent = new PTCAgent({ generator, runner, cache: false, testPresets: { python: { ...PYTHON_PYTEST, id: 'my-pytest', command: ['python3', '-m', 'pytest', '--junitxml=.ptc/junit.xml'] } } });
    expect(agent.testPresetFor('python').id).toBe('my-pytest');
    expect((await agent.execute(PLAN)).status).toBe('success');
    expect(runner.sessions[0]?.commands[0]).toEqual(['python3', '-m', 'pytest', '--junitxml=.ptc/junit.xml']);
  });
});

describe('missing credentials are never retried', () => {
  test('AnthropicCodeGenerator without any key: one call, generation_failed, not three iterations', async () => {
    const saved = { ...process.env };
    delete process.env.ANTHROPIC_API_KEY;
    delete process.env.ANTHROPIC_AUTH_TOKEN;
    try {
      const anthropic = new AnthropicCodeGenerator({ baseURL: 'http://127.0.0.1:9', maxRetries: 0 });
      const bundle = await new PTCAgent({ generator: anthropic, runner: new FakeSandboxRunner(), cache: false }).execute({ ...PLAN, maxIterations: 3 });
      expect(bundle).toMatchObject({ status: 'failure', stopReason: 'generation_failed' });
      expect(bundle.iterations).toHaveLength(1);
      expect(bundle.error?.message).toMatch(/authentication|credentials/i);
    } finally {
      process.env = saved;
    }
  });
});
