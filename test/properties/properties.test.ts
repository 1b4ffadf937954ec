import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ArtifactBundle, PathSafetyError, PlanValidationError, PTCAgent, normalizeRelativePath, parseJUnit, parsePlan, writeBundle } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';

/** Path-ish strings: separators, dots, drive letters, NUL and unicode mixed freely. */
const pathLike = fc
  .array(fc.oneof(fc.constantFrom('/', '\\', '.', '..', '~', 'C:', ':', '\u0000', '\n', ' ', 'a', 'ü', '%2e%2e', '//'), fc.string({ maxLength: 6 })), { maxLength: 12 })
  .map((parts) => parts.join(''));

describe('properties', () => {
  test('the path checker either refuses or returns a path that stays inside any root', () => {
    const root = resolve('/srv/root');
    fc.assert(
      fc.property(pathLike, (path) => {
        let normalized: string;
        try {
          normalized = normalizeRelativePath(path);
        } catch (error) {
          expect(error).toBeInstanceOf(PathSafetyError);
          return;
        }
        const target = resolve(root, normalized);
        const inside = relative(root, target);
        expect(inside === '..' || inside.startsWith(`..${sep}`)).toBe(false);
        expect(inside).not.toBe('');
        expect(target.startsWith(root + sep)).toBe(true);
        expect(normalized).not.toMatch(/\u0000|\\/);
        // Normalising is idempotent.
        expect(normalizeRelativePath(normalized)).toBe(normalized);
      }),
      { numRuns: 5_000 },
    );
  });

  test('random plans never crash the validator: a Plan or a PlanValidationError', () => {
    const planLike = fc.record(
      {
        taskDescription: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        requirements: fc.oneof(fc.array(fc.string()), fc.string()),
        dependencies: fc.array(fc.oneof(fc.string(), fc.constantFrom('requests', '-r x', 'a; b', '@s/p@1'))),
        language: fc.oneof(fc.constantFrom('python', 'javascript', 'typescript'), fc.string()),
        maxIterations: fc.oneof(fc.integer({ min: -5, max: 20 }), fc.double()),
        timeoutMs: fc.oneof(fc.integer(), fc.constant(undefined)),
        cacheStrategy: fc.oneof(fc.constantFrom('always', 'never', 'smart'), fc.string()),
        acceptanceTests: fc.array(fc.record({ path: pathLike, content: fc.string() }), { maxLength: 3 }),
        budget: fc.oneof(fc.record({ maxTokens: fc.integer() }), fc.constant(undefined)),
        metadata: fc.oneof(fc.object(), fc.constant(undefined)),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(planLike, fc.anything()), (input) => {
        try {
          const plan = parsePlan(input);
          expect(plan.taskDescription.trim().length).toBeGreaterThan(0);
          expect(plan.maxIterations).toBeGreaterThanOrEqual(1);
          for (const file of plan.acceptanceTests) expect(() => normalizeRelativePath(file.path)).not.toThrow();
        } catch (error) {
          expect(error).toBeInstanceOf(PlanValidationError);
          expect((error as PlanValidationError).issues.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  test('the JUnit parser never throws on arbitrary input', () => {
    const xmlish = fc
      .array(fc.oneof(fc.constantFrom('<testsuites>', '</testsuites>', '<testsuite name="s">', '</testsuite>', '<testcase name="t"', '/>', '>', '<failure message="m">', '</failure>', '<error/>', '<skipped/>', '&#10;', '&lt;', '&bogus;', '<!DOCTYPE x [<!ENTITY a "b">]>', '&a;', '<![CDATA[x]]>', 'time="abc"'), fc.string({ maxLength: 8 })), { maxLength: 40 })
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(xmlish, fc.string(), fc.string({ unit: 'binary' })), (input) => {
        const result = parseJUnit(input);
        expect(Array.isArray(result.cases)).toBe(true);
        for (const testCase of result.cases) expect(['passed', 'failed', 'skipped', 'errored']).toContain(testCase.status);
      }),
      { numRuns: 3_000 },
    );
  });

  describe('writeBundle', () => {
    let root: string;
    let bundle: ArtifactBundle;
    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'ptc-property-'));
      bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: [{ path: 'a.py', content: 'x' }] }), runner: new FakeSandboxRunner() }).execute({
        taskDescription: 'p',
      });
    });
    afterAll(async () => {
      await rm(root, { recursive: true, force: true });
    });

    test('random paths never land outside the target directory', async () => {
      let case_ = 0;
      await fc.assert(
        fc.asyncProperty(pathLike, async (path) => {
          case_ += 1;
          const target = join(root, `case-${case_}`, 'out');
          try {
            const { written } = await writeBundle({ ...bundle, files: [{ ...bundle.files[0]!, path }] }, target);
            for (const file of written) expect(resolve(file).startsWith(resolve(target) + sep)).toBe(true);
          } catch (error) {
            expect((error as { code?: string }).code).toMatch(/PATH_UNSAFE|BUNDLE_INVALID/);
          }
          // Nothing was created next to the target directory (a refused bundle creates nothing).
          const siblings = await readdir(join(root, `case-${case_}`)).catch(() => []);
          for (const entry of siblings) expect(entry).toBe('out');
        }),
        { numRuns: 300 },
      );
    });
  });
});
