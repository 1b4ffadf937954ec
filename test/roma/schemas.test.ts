import { describe, expect, test } from 'vitest';
import {
  RomaArtifactResultSchema,
  RomaCodeArtifactSchema,
  RomaExecutionPlanSchema,
  RomaPlanValidationError,
  formatNaiveUtc,
  parseRomaPlan,
  romaErrorDetails,
  type RomaErrorDetail,
} from '../../src/roma/index.js';
import { PlanValidationError } from '../../src/index.js';

/** Example B of ROMA-CONTRACT.md §9: round-trips byte for byte through model_dump(mode="json"). */
const EXAMPLE_B =
  '{"execution_id":"roma-7f3c2a1e-0001","scaffolding":{"task_description":"Create a Python function is_prime(n) with tests","requirements":["Function named \'is_prime\'","Handle 0, 1 and negative numbers"],"architecture":{"style":"single module","typing":"full type hints"},"dependencies":[],"file_structure":{"main.py":"is_prime implementation","tests/test_main.py":"pytest tests"},"context":"Python 3.12, no third-party packages"},"primary_llm":"kimi","fallback_llm":null,"max_iterations":2,"timeout_seconds":600,"enable_testing":true,"cache_strategy":"never","cache_ttl":null,"project_name":"prime-utils","roma_task_id":"root.1.2","created_at":"2025-12-07T00:39:28.512345","metadata":{"depth":2}}';

/** Example C (SUCCESS response). */
const EXAMPLE_C = {
  execution_id: 'roma-7f3c2a1e-0001',
  status: 'SUCCESS',
  artifacts: [
    { file_path: 'main.py', content: 'def is_prime(n: int) -> bool: ...\n', artifact_type: 'source_code', language: 'python', description: 'is_prime implementation' },
    { file_path: 'tests/test_main.py', content: 'from main import is_prime\n', artifact_type: 'test', language: 'python', description: 'pytest tests' },
  ],
  test_results: { test_command: 'pytest -v --tb=short --color=no', exit_code: 0, stdout: '1 passed', stderr: '', tests_passed: 1, tests_failed: 0, duration_seconds: 2.14 },
  iterations_used: 1,
  error_message: null,
  warnings: [],
  llm_usage: [{ provider: 'kimi', model: 'moonshot-v1-32k', prompt_tokens: 523, completion_tokens: 724, total_tokens: 1247, api_calls: 1, cost_usd: 0.0041 }],
  started_at: '2025-12-07T00:39:28.6',
  completed_at: '2025-12-07T00:39:37.03',
  duration_seconds: 8.43,
  from_cache: false,
  cache_key: null,
  metadata: { sandbox_id: 'daytona-sbx-abc123' },
};

function detailsOf(input: unknown): RomaErrorDetail[] {
  try {
    parseRomaPlan(input);
  } catch (error) {
    expect(error).toBeInstanceOf(RomaPlanValidationError);
    expect(error).toBeInstanceOf(PlanValidationError);
    return [...(error as RomaPlanValidationError).detail];
  }
  throw new Error('the plan was accepted');
}

describe('PTCExecutionPlan', () => {
  test('example B round-trips byte for byte, as through pydantic', () => {
    expect(JSON.stringify(parseRomaPlan(JSON.parse(EXAMPLE_B)))).toBe(EXAMPLE_B);
  });

  test('fills ROMA defaults (example A) with a naive utcnow() created_at', () => {
    const plan = parseRomaPlan({ execution_id: ' integration-test-001 ', scaffolding: { task_description: 'Build a simple calculator CLI' }, unknown_field: 1 });
    const { created_at: createdAt, ...rest } = plan;
    expect(rest).toEqual({
      execution_id: 'integration-test-001',
      scaffolding: { task_description: 'Build a simple calculator CLI', requirements: [], architecture: null, dependencies: [], file_structure: null, context: null },
      primary_llm: 'claude',
      fallback_llm: 'kimi',
      max_iterations: 3,
      timeout_seconds: 300,
      enable_testing: true,
      cache_strategy: 'smart',
      cache_ttl: 3600,
      project_name: null,
      roma_task_id: null,
      metadata: {},
    });
    expect(createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$/);
    expect('unknown_field' in plan).toBe(false);
  });

  test('coerces like pydantic lax mode', () => {
    const plan = parseRomaPlan({
      execution_id: 'a',
      scaffolding: { task_description: 'x' },
      max_iterations: '5',
      timeout_seconds: 30.0,
      enable_testing: 'no',
      cache_ttl: ' 7 ',
      created_at: 1700000000,
    });
    expect(plan).toMatchObject({ max_iterations: 5, timeout_seconds: 30, enable_testing: false, cache_ttl: 7, created_at: '2023-11-14T22:13:20Z' });
    expect(parseRomaPlan({ execution_id: 'a', scaffolding: { task_description: 'x' }, max_iterations: true, enable_testing: 1 })).toMatchObject({ max_iterations: 1, enable_testing: true });
  });

  test('re-emits datetimes as pydantic does', () => {
    const at = (created_at: unknown) => parseRomaPlan({ execution_id: 'a', scaffolding: { task_description: 'x' }, created_at }).created_at;
    expect(at('2025-12-07T00:39:28.5123456')).toBe('2025-12-07T00:39:28.512345');
    expect(at('2025-12-07T00:39:28.000000')).toBe('2025-12-07T00:39:28');
    expect(at('2025-12-07 00:39')).toBe('2025-12-07T00:39:00');
    expect(at('2025-12-07')).toBe('2025-12-07T00:00:00');
    expect(at('2025-12-07T00:39:28Z')).toBe('2025-12-07T00:39:28Z');
    expect(at('2025-12-07T00:39:28.5+02:00')).toBe('2025-12-07T00:39:28.500000+02:00');
    expect(at('1700000000000')).toBe('2023-11-14T22:13:20Z');
    expect(formatNaiveUtc(new Date('2025-12-07T00:39:28.600Z'))).toBe('2025-12-07T00:39:28.600000');
    expect(formatNaiveUtc(new Date('2025-12-07T00:39:28.000Z'))).toBe('2025-12-07T00:39:28');
  });

  test('reports errors with the types, locations and messages pydantic gives (checked with pydantic 2.13)', () => {
    expect(detailsOf({})).toEqual([
      { type: 'missing', loc: ['body', 'execution_id'], msg: 'Field required' },
      { type: 'missing', loc: ['body', 'scaffolding'], msg: 'Field required' },
    ]);
    expect(detailsOf({ execution_id: ' ', scaffolding: { task_description: 'x' } })).toEqual([
      { type: 'value_error', loc: ['body', 'execution_id'], msg: 'Value error, execution_id cannot be empty' },
    ]);
    expect(detailsOf({ execution_id: 'a', scaffolding: { task_description: '  ' } })).toEqual([
      { type: 'value_error', loc: ['body'], msg: 'Value error, scaffolding.task_description cannot be empty' },
    ]);
    expect(
      detailsOf({
        execution_id: 'a',
        scaffolding: { task_description: 'x', requirements: 'abc' },
        primary_llm: 'CLAUDE',
        max_iterations: '5x',
        timeout_seconds: 30.5,
        enable_testing: 'maybe',
        cache_ttl: -1,
        metadata: [],
        fallback_llm: null,
      }),
    ).toEqual([
      { type: 'list_type', loc: ['body', 'scaffolding', 'requirements'], msg: 'Input should be a valid list' },
      { type: 'enum', loc: ['body', 'primary_llm'], msg: "Input should be 'claude', 'kimi' or 'openai'" },
      { type: 'int_parsing', loc: ['body', 'max_iterations'], msg: 'Input should be a valid integer, unable to parse string as an integer' },
      { type: 'int_from_float', loc: ['body', 'timeout_seconds'], msg: 'Input should be a valid integer, got a number with a fractional part' },
      { type: 'bool_parsing', loc: ['body', 'enable_testing'], msg: 'Input should be a valid boolean, unable to interpret input' },
      { type: 'greater_than_equal', loc: ['body', 'cache_ttl'], msg: 'Input should be greater than or equal to 0' },
      { type: 'dict_type', loc: ['body', 'metadata'], msg: 'Input should be a valid dictionary' },
    ]);
    expect(
      detailsOf({ execution_id: 5, scaffolding: { task_description: 'x', requirements: [1] }, max_iterations: 0, timeout_seconds: 4000, project_name: 3 }),
    ).toEqual([
      { type: 'string_type', loc: ['body', 'execution_id'], msg: 'Input should be a valid string' },
      { type: 'string_type', loc: ['body', 'scaffolding', 'requirements', 0], msg: 'Input should be a valid string' },
      { type: 'greater_than_equal', loc: ['body', 'max_iterations'], msg: 'Input should be greater than or equal to 1' },
      { type: 'less_than_equal', loc: ['body', 'timeout_seconds'], msg: 'Input should be less than or equal to 3600' },
      { type: 'string_type', loc: ['body', 'project_name'], msg: 'Input should be a valid string' },
    ]);
    expect(detailsOf({ execution_id: 'a', scaffolding: 's' })).toEqual([
      { type: 'model_type', loc: ['body', 'scaffolding'], msg: 'Input should be a valid dictionary or instance of ScaffoldingSpec' },
    ]);
    expect(detailsOf([])).toEqual([{ type: 'model_type', loc: ['body'], msg: 'Input should be a valid dictionary or instance of PTCExecutionPlan' }]);
  });

  test('the schema is usable directly with safeParse', () => {
    const result = RomaExecutionPlanSchema.safeParse({ execution_id: 'a', scaffolding: { task_description: 'x' }, cache_strategy: 'sometimes' }, { reportInput: true });
    expect(result.success).toBe(false);
    if (!result.success) expect(romaErrorDetails(result.error, [])).toEqual([{ type: 'enum', loc: ['cache_strategy'], msg: "Input should be 'always', 'never' or 'smart'" }]);
  });
});

describe('PTCArtifactResult', () => {
  test('example C validates, and its timestamps come back with full microseconds', () => {
    const result = RomaArtifactResultSchema.parse(EXAMPLE_C);
    expect(result.started_at).toBe('2025-12-07T00:39:28.600000');
    expect(result.completed_at).toBe('2025-12-07T00:39:37.030000');
    expect(result.artifacts).toHaveLength(2);
  });

  test('example D (FAILURE, defaults) validates; lowercase statuses do not', () => {
    const failure = RomaArtifactResultSchema.parse({
      execution_id: 'integration-test-001',
      status: 'FAILURE',
      error_message: 'LLM provider error: 429 rate limited',
      started_at: '2025-12-07T01:00:00.123456',
      completed_at: '2025-12-07T01:00:01.234567',
      duration_seconds: 1.111111,
    });
    expect(failure).toMatchObject({ artifacts: [], test_results: null, iterations_used: 1, warnings: [], llm_usage: [], from_cache: false, cache_key: null, metadata: {} });
    // The class's own json_schema_extra example uses "success": it fails validation.
    expect(RomaArtifactResultSchema.safeParse({ ...EXAMPLE_C, status: 'success' }).success).toBe(false);
  });

  test('CodeArtifact strips leading slashes only, and rejects blank paths', () => {
    expect(RomaCodeArtifactSchema.parse({ file_path: '//abs/x.py', content: '' }).file_path).toBe('abs/x.py');
    expect(RomaCodeArtifactSchema.parse({ file_path: '../x', content: '' }).file_path).toBe('../x');
    expect(RomaCodeArtifactSchema.parse({ file_path: ' x', content: '' })).toEqual({ file_path: ' x', content: '', artifact_type: 'source_code', language: null, description: null });
    expect(RomaCodeArtifactSchema.safeParse({ file_path: '  ', content: '' }).success).toBe(false);
  });
});
