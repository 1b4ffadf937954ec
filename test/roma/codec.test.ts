import { describe, expect, test } from 'vitest';
import { PTCAgent, PTCTimeoutError, type ArtifactBundle } from '../../src/index.js';
import {
  RomaArtifactResultSchema,
  RomaPlanValidationError,
  fromRomaArtifactType,
  fromRomaPlan,
  fromRomaStatus,
  parseRomaPlan,
  romaCacheKey,
  romaExtrasOf,
  romaProviderOf,
  toRomaArtifactType,
  toRomaResult,
  toRomaStatus,
} from '../../src/roma/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FIXED, judgeCalc } from '../helpers.js';
import { CALCULATOR_PLAN } from './fixtures.js';

const NAIVE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/;

function romaPlan(overrides: Record<string, unknown> = {}) {
  return parseRomaPlan({ ...CALCULATOR_PLAN, ...overrides });
}

describe('fromRomaPlan', () => {
  test('maps every field, keeping what has no counterpart under metadata.roma', () => {
    const plan = fromRomaPlan({
      execution_id: 'roma-1',
      scaffolding: {
        task_description: 'Create is_prime',
        requirements: ['handle 0', '  ', 'handle negatives'],
        architecture: { style: 'single module' },
        dependencies: ['click>=8'],
        file_structure: { 'main.py': 'impl' },
        context: 'Python 3.12',
      },
      primary_llm: 'kimi',
      fallback_llm: null,
      max_iterations: 2,
      timeout_seconds: 600,
      enable_testing: false,
      cache_strategy: 'always',
      cache_ttl: 120,
      project_name: 'prime-utils',
      roma_task_id: 'root.1.2',
      created_at: '2025-12-07T00:39:28.512345',
      metadata: { depth: 2 },
    });
    expect(plan).toMatchObject({
      executionId: 'roma-1',
      taskDescription: 'Create is_prime',
      requirements: ['handle 0', 'handle negatives'],
      dependencies: ['click>=8'],
      language: 'python',
      architecture: { style: 'single module' },
      context: 'Python 3.12',
      fileStructure: { 'main.py': 'impl' },
      maxIterations: 2,
      timeoutMs: 600_000,
      enableTesting: false,
      cacheStrategy: 'always',
      cacheTtlMs: 120_000,
    });
    expect(plan.metadata.depth).toBe(2);
    expect(romaExtrasOf(plan)).toEqual({
      executionId: 'roma-1',
      primaryLlm: 'kimi',
      fallbackLlm: null,
      projectName: 'prime-utils',
      romaTaskId: 'root.1.2',
      createdAt: '2025-12-07T00:39:28.512345',
      cacheTtlSeconds: 120,
      cacheKey: romaCacheKey(parseRomaPlan({ execution_id: 'x', scaffolding: { task_description: 'Create is_prime', requirements: ['handle 0', '  ', 'handle negatives'], architecture: { style: 'single module' }, dependencies: ['click>=8'] }, primary_llm: 'kimi', fallback_llm: null, enable_testing: false })),
    });
  });

  test('cache_ttl 0 and null mean 3600 s, as when ROMA writes its cache', () => {
    expect(fromRomaPlan(romaPlan({ cache_ttl: 0 })).cacheTtlMs).toBe(3_600_000);
    expect(fromRomaPlan(romaPlan({ cache_ttl: null })).cacheTtlMs).toBe(3_600_000);
    expect(fromRomaPlan(romaPlan()).cacheTtlMs).toBe(3_600_000);
    expect(fromRomaPlan(romaPlan({ cache_ttl: 10 ** 12 })).cacheTtlMs).toBe(365 * 24 * 3_600_000);
  });

  test('an execution id ours cannot carry is replaced, and kept in metadata', () => {
    const plan = fromRomaPlan(romaPlan({ execution_id: 'tâche-ü' }));
    expect(plan.executionId).toMatch(/^roma-[0-9a-f]{24}$/);
    expect(romaExtrasOf(plan)?.executionId).toBe('tâche-ü');
  });

  test('rejects with ROMA field paths, for ROMA rules and for our stricter ones', () => {
    const rejection = (input: unknown) => {
      try {
        fromRomaPlan(input);
      } catch (error) {
        expect(error).toBeInstanceOf(RomaPlanValidationError);
        return (error as RomaPlanValidationError).detail;
      }
      throw new Error('accepted');
    };
    expect(rejection({ execution_id: 'a', scaffolding: {} })).toEqual([{ type: 'missing', loc: ['body', 'scaffolding', 'task_description'], msg: 'Field required' }]);
    const detail = rejection({
      execution_id: 'a',
      scaffolding: { task_description: 'x', requirements: ['', 'ok', 'x'.repeat(10_001)], dependencies: ['click', '-e git+https://evil'] },
    });
    expect(detail.map((entry) => entry.loc)).toEqual([
      ['body', 'scaffolding', 'requirements', 2],
      ['body', 'scaffolding', 'dependencies', 1],
    ]);
    expect(detail[1]!.msg).toMatch(/^Value error, .*package spec/);
  });
});

describe('mappings', () => {
  test('statuses both ways', () => {
    expect(['success', 'partial_success', 'failure', 'timeout', 'cancelled'].map((status) => toRomaStatus(status as never))).toEqual([
      'SUCCESS',
      'PARTIAL_SUCCESS',
      'FAILURE',
      'TIMEOUT',
      'FAILURE',
    ]);
    expect(['SUCCESS', 'PARTIAL_SUCCESS', 'FAILURE', 'TIMEOUT', 'CACHE_HIT'].map((status) => fromRomaStatus(status as never))).toEqual([
      'success',
      'partial_success',
      'failure',
      'timeout',
      'success',
    ]);
  });

  test('file kinds both ways', () => {
    for (const kind of ['source', 'test', 'config', 'documentation', 'data'] as const) expect(fromRomaArtifactType(toRomaArtifactType(kind))).toBe(kind);
    expect(toRomaArtifactType('source')).toBe('source_code');
  });

  test('generator ids become ROMA provider names', () => {
    expect(romaProviderOf('anthropic:claude-sonnet-5-5')).toEqual({ provider: 'claude', model: 'claude-sonnet-5-5' });
    expect(romaProviderOf('openai:gpt-5')).toEqual({ provider: 'openai', model: 'gpt-5' });
    expect(romaProviderOf('scripted')).toEqual({ provider: 'scripted', model: 'scripted' });
  });
});

function agentWith(script: ConstructorParameters<typeof ScriptedCodeGenerator>[0], runner = new FakeSandboxRunner({ results: judgeCalc }), id = 'anthropic:claude-test') {
  const generator = new ScriptedCodeGenerator(script, { id });
  return { agent: new PTCAgent({ generator, runner, cache: new MemoryCache() }), generator, runner };
}

function checked(bundle: ArtifactBundle, options: Parameters<typeof toRomaResult>[1] = {}) {
  const result = toRomaResult(bundle, options);
  // Whatever we answer must pass ROMA's own model, unchanged (a round trip is the identity).
  expect(RomaArtifactResultSchema.parse(JSON.parse(JSON.stringify(result)))).toEqual(result);
  expect(result.started_at).toMatch(NAIVE);
  expect(result.completed_at).toMatch(NAIVE);
  return result;
}

describe('toRomaResult', () => {
  test('a green run: SUCCESS, artifacts, test results, usage, ROMA cache key', async () => {
    const { agent } = agentWith({ files: FIXED, usage: { inputTokens: 500, outputTokens: 700, cacheReadInputTokens: 23, costUsd: 0.01 } });
    const roma = romaPlan({ execution_id: 'exec-1' });
    const result = checked(await agent.execute(fromRomaPlan(roma)), { plan: roma });
    expect(result).toMatchObject({
      execution_id: 'exec-1',
      status: 'SUCCESS',
      iterations_used: 1,
      error_message: null,
      from_cache: false,
      cache_key: 'dbe4ca9729830fba',
      llm_usage: [{ provider: 'claude', model: 'claude-test', prompt_tokens: 523, completion_tokens: 700, total_tokens: 1223, api_calls: 1, cost_usd: 0.01 }],
    });
    expect(result.artifacts).toEqual([
      { file_path: 'calc.py', content: FIXED[0]!.content, artifact_type: 'source_code', language: 'python', description: null },
      { file_path: 'tests/test_calc.py', content: FIXED[1]!.content, artifact_type: 'test', language: 'python', description: null },
    ]);
    expect(result.test_results).toMatchObject({ exit_code: 0, tests_passed: 1, tests_failed: 0 });
    expect(result.test_results!.test_command).toContain('pytest');
    expect(result.metadata).toMatchObject({ sandbox_id: expect.any(String), ptc_status: 'success', stop_reason: 'tests_passed', generator: 'anthropic:claude-test' });
  });

  test('red tests after the budget: PARTIAL_SUCCESS with errored cases counted as failed', async () => {
    const runner = new FakeSandboxRunner({ results: { passed: ['a'], failed: ['b'], errored: ['c'] } });
    const { agent } = agentWith({ files: FIXED }, runner);
    const result = checked(await agent.execute(fromRomaPlan(romaPlan({ max_iterations: 2 }))));
    expect(result.status).toBe('PARTIAL_SUCCESS');
    expect(result.iterations_used).toBe(2);
    expect(result.test_results).toMatchObject({ exit_code: 1, tests_passed: 1, tests_failed: 2 });
    expect(result.error_message).toMatch(/tests still failing/);
  });

  test('a generation failure: FAILURE with the error message, like example D', async () => {
    const { GenerationError } = await import('../../src/index.js');
    const { agent } = agentWith({ error: new GenerationError('LLM provider error: 429 rate limited', { retryable: false }) });
    const result = checked(await agent.execute(fromRomaPlan(romaPlan())));
    expect(result).toMatchObject({ status: 'FAILURE', artifacts: [], test_results: null, error_message: 'LLM provider error: 429 rate limited' });
  });

  test('cancelled: FAILURE saying so; timeout: TIMEOUT', async () => {
    const { agent } = agentWith({ files: FIXED, delayMs: 10_000 });
    const controller = new AbortController();
    const running = agent.execute(fromRomaPlan(romaPlan({ execution_id: 'c' })), { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const cancelled = checked(await running);
    expect(cancelled.status).toBe('FAILURE');
    expect(cancelled.error_message).toMatch(/^cancelled: /);
    expect(cancelled.metadata.ptc_status).toBe('cancelled');

    const timeoutController = new AbortController();
    const timing = agent.execute(fromRomaPlan(romaPlan({ execution_id: 't', cache_strategy: 'never' })), { signal: timeoutController.signal });
    setTimeout(() => timeoutController.abort(new PTCTimeoutError('too slow', 1)), 20);
    expect(checked(await timing).status).toBe('TIMEOUT');
  });

  test('a cache hit keeps its status and sets from_cache; CACHE_HIT on request; no usage reported', async () => {
    const { agent, generator } = agentWith({ files: FIXED });
    const first = romaPlan({ execution_id: 'first' });
    await agent.execute(fromRomaPlan(first));
    const second = romaPlan({ execution_id: 'second' });
    const hit = await agent.execute(fromRomaPlan(second));
    expect(generator.calls).toHaveLength(1);
    const result = checked(hit, { plan: second });
    expect(result).toMatchObject({ execution_id: 'second', status: 'SUCCESS', from_cache: true, llm_usage: [] });
    expect(checked(hit, { plan: second, cacheHitStatus: 'CACHE_HIT' }).status).toBe('CACHE_HIT');
    expect(() => toRomaResult(hit, { cacheHitStatus: 'sometimes' as never })).toThrow(TypeError);
  });

  test('a killed test command (no exit code) reports -1', async () => {
    const runner = new FakeSandboxRunner({ results: { failed: ['slow'], exitCode: null, timedOut: true } });
    const { agent } = agentWith({ files: FIXED }, runner);
    const result = checked(await agent.execute(fromRomaPlan(romaPlan({ max_iterations: 1 }))));
    expect(result.test_results?.exit_code).toBe(-1);
  });
});
