import { posix } from 'node:path';
import {
  GenerationError,
  emptyUsage,
  type CodeGenerator,
  type GeneratedFileInput,
  type GenerationContext,
  type GenerationRequest,
  type GenerationResult,
} from '../index.js';
import { problemIdOf } from './problem-plan.js';
import type { EvalProblem } from './suite.js';

/**
 * Generators that call no model. They prove the harness rather than measure a model:
 * - `reference`: the suite's reference solution and a trivial test of its own — every problem
 *   must pass held-out (a harness that fails one is broken, or the problem is).
 * - `repair`: iteration 1 has a deterministic bug (the function is defined under a wrong name)
 *   and a test that catches it; iteration 2 and later have the reference — every problem must be
 *   green after exactly 2 iterations, and pass held-out.
 * - `cheat`: a wrong solution (the function returns nothing) with a test that asserts nothing —
 *   green on its own test and red held-out on every problem: a false-green rate of 100%.
 */
export type OfflineGeneratorKind = 'reference' | 'repair' | 'cheat';
export const OFFLINE_GENERATORS: readonly OfflineGeneratorKind[] = ['reference', 'repair', 'cheat'];

/** Own tests go under tests/ (or test/), never at the held-out test's path or basename. */
const OWN_TEST_PATHS = { python: 'tests/test_own.py', javascript: 'test/own.test.js', typescript: 'test/own.test.ts' } as const;

export class OfflineCodeGenerator implements CodeGenerator {
  readonly id: string;
  /** Calls made, by problem id; a resumed eval can check which problems it ran. */
  readonly calls = new Map<string, number>();
  private readonly problems: ReadonlyMap<string, EvalProblem>;

  constructor(
    readonly kind: OfflineGeneratorKind,
    problems: Iterable<EvalProblem>,
  ) {
    if (!OFFLINE_GENERATORS.includes(kind)) throw new TypeError(`kind must be one of ${OFFLINE_GENERATORS.join(', ')}, got ${String(kind)}`);
    this.id = `offline:${kind}`;
    this.problems = new Map([...problems].map((problem) => [problem.id, problem]));
  }

  async generate(request: GenerationRequest, context: GenerationContext): Promise<GenerationResult> {
    context.signal.throwIfAborted();
    const id = problemIdOf(request.plan.metadata);
    const problem = id === undefined ? undefined : this.problems.get(id);
    if (problem === undefined) {
      throw new GenerationError(`the ${this.kind} generator knows no problem ${JSON.stringify(id ?? null)}: plans must come from problemToPlan`, { retryable: false });
    }
    this.calls.set(problem.id, (this.calls.get(problem.id) ?? 0) + 1);
    const files = this.filesFor(problem, request.iteration);
    // No model was called: no tokens, no cost.
    return { files, usage: emptyUsage(), notes: `offline ${this.kind} generator, iteration ${request.iteration}` };
  }

  private filesFor(problem: EvalProblem, iteration: number): GeneratedFileInput[] {
    const packageJson: GeneratedFileInput[] =
      problem.language === 'python' ? [] : [{ path: 'package.json', content: '{ "type": "module", "private": true }\n', kind: 'config' }];
    if (this.kind === 'cheat') {
      return [
        { path: problem.solutionPath, content: wrongSolution(problem), kind: 'source' },
        { path: OWN_TEST_PATHS[problem.language], content: emptyTest(problem), kind: 'test' },
        ...packageJson,
      ];
    }
    const reference = problem.reference;
    if (reference === undefined) {
      throw new GenerationError(`problem ${problem.id} has no reference solution, which the ${this.kind} generator needs`, { retryable: false });
    }
    if (this.kind === 'repair' && iteration === 1) {
      return [
        { path: problem.solutionPath, content: buggySolution(problem, reference), kind: 'source' },
        { path: OWN_TEST_PATHS[problem.language], content: definedTest(problem), kind: 'test' },
        ...packageJson,
      ];
    }
    return [
      { path: problem.solutionPath, content: reference, kind: 'source' },
      { path: OWN_TEST_PATHS[problem.language], content: definedTest(problem), kind: 'test' },
      ...packageJson,
    ];
  }
}

/** The module specifier a test file uses to import the solution. */
function importSpecifier(problem: EvalProblem): string {
  const testDirectory = posix.dirname(OWN_TEST_PATHS[problem.language]);
  let relative = posix.relative(testDirectory, problem.solutionPath);
  if (!relative.startsWith('.')) relative = `./${relative}`;
  // tsx resolves `.js` to the `.ts` file, and node needs the extension.
  return relative.replace(/\.ts$/, '.js');
}

function pythonModule(problem: EvalProblem): string {
  return problem.solutionPath.replace(/\.py$/, '').replaceAll('/', '.');
}

/** A trivial test of its own: the entry point exists and is callable (or the module imports). */
function definedTest(problem: EvalProblem): string {
  const entry = problem.entryPoint;
  if (problem.language === 'python') {
    const module = pythonModule(problem);
    return entry
      ? `import ${module} as solution\n\n\ndef test_${entry}_is_defined():\n    assert callable(getattr(solution, ${JSON.stringify(entry)}, None)), ${JSON.stringify(`${problem.solutionPath} must define ${entry}`)}\n`
      : `import ${module}  # noqa: F401\n\n\ndef test_solution_imports():\n    assert True\n`;
  }
  const value = problem.language === 'typescript' ? `(solution as Record<string, unknown>)[${JSON.stringify(entry)}]` : `solution[${JSON.stringify(entry)}]`;
  return [
    "import { test } from 'node:test';",
    "import assert from 'node:assert/strict';",
    `import * as solution from ${JSON.stringify(importSpecifier(problem))};`,
    '',
    entry ? `test('${entry} is defined', () => {\n  assert.equal(typeof ${value}, 'function');\n});` : "test('the solution loads', () => {\n  assert.ok(solution);\n});",
    '',
  ].join('\n');
}

/** Iteration 1 of `repair`: the reference with the entry point defined under a wrong name. */
function buggySolution(problem: EvalProblem, reference: string): string {
  const entry = problem.entryPoint;
  if (entry === undefined) return `raise RuntimeError("iteration 1: an unfinished draft")\n${reference}`;
  const definition =
    problem.language === 'python'
      ? new RegExp(`^(\\s*(?:async\\s+)?def\\s+)${entry}(\\s*\\()`, 'm')
      : new RegExp(`(\\bfunction\\s*\\*?\\s*)${entry}(\\s*[(<])`);
  if (definition.test(reference)) return reference.replace(definition, `$1${entry}_draft$2`);
  // No plain definition to misname: remove the name after the fact instead.
  return problem.language === 'python' ? `${reference}\n\ndel ${entry}\n` : `${reference}\n\nexport const ${entry} = undefined;\n`;
}

/** `cheat`: the entry point exists and returns nothing. */
function wrongSolution(problem: EvalProblem): string {
  const entry = problem.entryPoint;
  if (problem.language === 'python') return entry ? `def ${entry}(*args, **kwargs):\n    return None\n` : '# nothing implemented\n';
  const rest = problem.language === 'typescript' ? '..._args: unknown[]' : '..._args';
  return entry ? `export function ${entry}(${rest}) {\n  return undefined;\n}\n` : 'export {};\n';
}

/** `cheat`: a test that runs and asserts nothing. */
function emptyTest(problem: EvalProblem): string {
  if (problem.language === 'python') return 'def test_solution():\n    pass\n';
  return "import { test } from 'node:test';\n\ntest('solution', () => {});\n";
}
