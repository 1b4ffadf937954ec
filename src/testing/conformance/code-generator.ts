import { strict as assert } from 'node:assert';
import { GeneratedFileSchema, UsageSchema } from '../../bundle.js';
import type { CodeGenerator, GenerationRequest } from '../../contracts/code-generator.js';
import { isPTCError } from '../../errors.js';
import { parsePlan } from '../../plan.js';
import { DEFAULT_TEST_PRESETS } from '../../reports/presets.js';
import type { ConformanceTestFunction } from './types.js';

export interface CodeGeneratorConformanceOptions {
  /** Per-case timeout handed to `test`, in ms. @default 30000 */
  caseTimeoutMs?: number;
  /** Prefix of every case name. @default 'CodeGenerator conformance' */
  name?: string;
}

/** A first-iteration request for a small Python task, as the agent would send it. */
export function sampleGenerationRequest(overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  const plan = parsePlan({
    executionId: 'conformance',
    taskDescription: 'Write add(a, b) in calc.py that returns the sum, with pytest tests.',
    requirements: ['add(1, 2) == 3'],
  });
  return {
    executionId: plan.executionId,
    iteration: 1,
    plan,
    testPreset: DEFAULT_TEST_PRESETS.python,
    previousFiles: [],
    failures: [],
    protectedPaths: [],
    ...overrides,
  };
}

/**
 * Registers the cases every `CodeGenerator` must pass: a stable id, output that satisfies the
 * file and usage schemas for a first attempt and for a refinement, and a prompt rejection when
 * the signal is already aborted. `createGenerator` must return a generator able to answer any
 * request (for a model-backed one: point it at a fake server with a default answer).
 */
export function codeGeneratorConformance(
  test: ConformanceTestFunction,
  createGenerator: () => CodeGenerator | Promise<CodeGenerator>,
  options: CodeGeneratorConformanceOptions = {},
): void {
  const timeoutMs = options.caseTimeoutMs ?? 30_000;
  const prefix = options.name ?? 'CodeGenerator conformance';
  const context = (signal = new AbortController().signal) => ({ signal, onProgress: () => {} });

  test(`${prefix}: has a stable, non-empty id`, async () => {
    const generator = await createGenerator();
    assert.equal(typeof generator.id, 'string');
    assert.ok(generator.id.length > 0);
    assert.equal(generator.id, generator.id);
  }, timeoutMs);

  test(`${prefix}: a first attempt returns valid files and usage`, async () => {
    const generator = await createGenerator();
    const result = await generator.generate(sampleGenerationRequest(), context());
    assert.ok(Array.isArray(result.files) && result.files.length > 0, 'files must be a non-empty array');
    for (const file of result.files) assert.ok(GeneratedFileSchema.safeParse(file).success, `invalid file ${JSON.stringify(file).slice(0, 200)}`);
    assert.ok(UsageSchema.safeParse(result.usage).success, 'usage must satisfy UsageSchema');
  }, timeoutMs);

  test(`${prefix}: a refinement with failures returns valid files`, async () => {
    const generator = await createGenerator();
    const first = sampleGenerationRequest();
    const request = sampleGenerationRequest({
      iteration: 2,
      previousFiles: [
        { path: 'calc.py', content: 'def add(a, b):\n    return a - b\n', kind: 'source' },
        { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' },
      ],
      failures: [{ name: 'test_add', status: 'failed', message: 'assert -1 == 3' }],
      plan: first.plan,
    });
    const result = await generator.generate(request, context());
    assert.ok(result.files.length > 0);
    for (const file of result.files) assert.ok(GeneratedFileSchema.safeParse(file).success);
  }, timeoutMs);

  test(`${prefix}: an aborted signal rejects with a PTCError`, async () => {
    const generator = await createGenerator();
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(generator.generate(sampleGenerationRequest(), context(controller.signal)), (error: unknown) => isPTCError(error));
  }, timeoutMs);
}
