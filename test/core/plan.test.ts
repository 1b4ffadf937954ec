import { describe, expect, test } from 'vitest';
import { PlanValidationError, parsePlan } from '../../src/index.js';

describe('plan validation', () => {
  test('fills defaults and generates an execution id', () => {
    const plan = parsePlan({ taskDescription: 'do it' });
    expect(plan).toMatchObject({
      taskDescription: 'do it',
      requirements: [],
      dependencies: [],
      language: 'python',
      acceptanceTests: [],
      maxIterations: 3,
      enableTesting: true,
      cacheStrategy: 'smart',
      cacheTtlMs: 3_600_000,
      budget: {},
      metadata: {},
    });
    expect(plan.executionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(parsePlan({ taskDescription: 'x', executionId: '  keep-me ' }).executionId).toBe('keep-me');
  });

  test('an invalid plan lists every problem with its path', () => {
    let error: unknown;
    try {
      parsePlan({
        taskDescription: '   ',
        maxIterations: 11,
        language: 'cobol',
        dependencies: ['ok', '--index-url=http://evil', 'a b'],
        cacheStrategy: 'sometimes',
        budget: { maxTokens: -5 },
        acceptanceTests: [{ path: '/etc/passwd', content: '' }],
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(PlanValidationError);
    const issues = (error as PlanValidationError).issues.map((issue) => issue.path);
    expect(issues).toEqual(
      expect.arrayContaining(['taskDescription', 'maxIterations', 'language', 'dependencies.1', 'dependencies.2', 'cacheStrategy', 'budget.maxTokens', 'acceptanceTests.0.path']),
    );
    expect((error as PlanValidationError).code).toBe('PLAN_INVALID');
    expect((error as PlanValidationError).message).toContain('taskDescription');
  });

  test.each([null, undefined, 42, 'plan', [], { taskDescription: 7 }])('%o is rejected, not crashed on', (input) => {
    expect(() => parsePlan(input)).toThrow(PlanValidationError);
  });

  test('dependency specs that look like installer options are refused', () => {
    for (const spec of ['-r requirements.txt', '--pre', 'pkg; rm -rf /', 'pkg && curl', '$(id)', 'x`id`']) {
      expect(() => parsePlan({ taskDescription: 't', dependencies: [spec] }), spec).toThrow(PlanValidationError);
    }
    for (const spec of ['requests', 'numpy>=1.26,<2', '@scope/pkg@^2.0.0', 'lodash@4.17.21', 'package[extra]==1.0', 'tsx']) {
      expect(() => parsePlan({ taskDescription: 't', dependencies: [spec] }), spec).not.toThrow();
    }
  });

  test('duplicate acceptance test paths are refused, also after normalisation', () => {
    expect(() =>
      parsePlan({ taskDescription: 't', acceptanceTests: [{ path: 'tests/a.py', content: '' }, { path: './tests//a.py', content: '' }] }),
    ).toThrow(/same path/);
  });
});
