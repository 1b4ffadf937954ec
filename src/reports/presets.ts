import { z } from 'zod';
import { isSafeRelativePath } from '../internal/paths.js';
import { LanguageSchema, type Language } from '../plan.js';

/** What an exit code of the test command means, beyond what the JUnit report says. */
export interface ExitCodeRule {
  /** `no_tests`: nothing was collected, a failure. `error`: the runner itself failed (usage, internal, interrupted). */
  readonly outcome: 'tests' | 'no_tests' | 'error';
  readonly meaning: string;
}

/**
 * How tests of one language are laid out, run and reported. Presets are plain data: pass your own
 * through `PTCAgent`'s `testPresets` option to use another framework. Every preset must make its
 * runner write JUnit XML to `reportPath`.
 */
export interface TestPreset {
  /** Stable identity, part of the cache key, e.g. `python-pytest`. */
  readonly id: string;
  readonly language: Language;
  /** Human name of the framework, for prompts: `pytest`, `node:test`. */
  readonly framework: string;
  /** argv, run in the workspace without a shell. */
  readonly command: readonly string[];
  /** Append the paths of the test files to `command`; for runners that cannot glob. */
  readonly appendTestFiles: boolean;
  /**
   * Which model files are test files besides those of kind `test` (a regular expression over the
   * path): a file following the conventions is run even when the model did not label it.
   */
  readonly testFilePattern?: string;
  /** Workspace-relative path of the JUnit XML the command writes. */
  readonly reportPath: string;
  /** Installed in addition to the plan's dependencies (e.g. a TypeScript loader). */
  readonly requiredDependencies: readonly string[];
  /**
   * The runner reports a test file that did not load, or held no test, as one case named by the
   * file's path (node:test does): a passing one is not a test and is dropped, a failing one
   * becomes an errored case carrying the file's load error from stdout. @default false
   */
  readonly reportsFilesAsCases?: boolean;
  /** Exit codes with a meaning of their own; any other non-zero code means "tests ran, some failed". */
  readonly exitCodes: Readonly<Record<number, ExitCodeRule>>;
  /** Layout and conventions told to the model. */
  readonly conventions: string;
  /**
   * How the plan's acceptance tests run on their own, in an invocation the model's files cannot
   * configure. Without it the acceptance tests only run inside the model's own test run, and
   * the agent warns that the verdict is not hardened.
   */
  readonly acceptance?: AcceptanceInvocation;
}

/**
 * The acceptance run: argv, with `{report}` replaced by the JUnit report's path (a fresh random
 * name per run, so a report written in advance is never read) and the acceptance test paths
 * appended; the environment it overrides; and configuration files the agent writes for it (they
 * replace any model file at the same path for that run only).
 */
export interface AcceptanceInvocation {
  readonly command: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly configFiles?: ReadonlyArray<{ readonly path: string; readonly content: string }>;
}

/** Replaced in `AcceptanceInvocation.command` by the report's path. */
export const REPORT_PLACEHOLDER = '{report}';

/** Every built-in preset writes its JUnit report here, so runners and fakes know where to look. */
export const REPORT_PATH = '.ptc/junit.xml';

/**
 * pytest, configured only by the agent: `-c` an agent-owned ini (so no pytest.ini, pyproject.toml,
 * setup.cfg or tox.ini of the model's is read: no `addopts`, no `-p`), `--rootdir` fixed,
 * `--noconftest` (no model hook can rewrite or skip a result), no cache provider, no
 * `PYTEST_ADDOPTS`/`PYTEST_PLUGINS` from the environment. `PYTHONSAFEPATH` (Python ≥ 3.11) keeps
 * the workspace off `sys.path` while Python and pytest start, so a model file named `pytest.py`,
 * `sitecustomize.py` or a planted `*.dist-info` entry point is never loaded in their place; the
 * ini's `pythonpath` puts the workspace root back for the tests, and `--import-mode=importlib`
 * keeps the test file's own directory off `sys.path`. `-s`: no user site-packages (HOME is the
 * workspace).
 */
const PYTEST_ACCEPTANCE: AcceptanceInvocation = {
  command: [
    'python3', '-B', '-s', '-m', 'pytest', '-q',
    '-c', '.ptc/acceptance/pytest.ini', '--rootdir=.', '--noconftest', '-p', 'no:cacheprovider',
    // importlib: the test file's directory is not put first on sys.path, so a model's
    // `tests/calc.py` cannot stand in for the root `calc.py` the bundle ships (the ini's
    // pythonpath puts the workspace root there instead).
    '--import-mode=importlib',
    `--junitxml=${REPORT_PLACEHOLDER}`,
  ],
  env: { PYTHONSAFEPATH: '1', PYTHONNOUSERSITE: '1', PYTEST_ADDOPTS: '', PYTEST_PLUGINS: '' },
  configFiles: [
    {
      path: '.ptc/acceptance/pytest.ini',
      // Paths in an ini are relative to the ini's directory: `../..` is the workspace.
      content: '[pytest]\naddopts =\npythonpath = ../..\nxfail_strict = true\n',
    },
  ],
};

const NODE_ACCEPTANCE_REPORTERS = [
  '--test-reporter=junit',
  `--test-reporter-destination=${REPORT_PLACEHOLDER}`,
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
] as const;

export const PYTHON_PYTEST: TestPreset = {
  id: 'python-pytest',
  language: 'python',
  framework: 'pytest',
  // -B: no .pyc files. Python trusts a cached .pyc while the source's size and whole-second mtime
  // match, so a same-size fix written within a second of the last run would otherwise run stale.
  command: ['python3', '-B', '-m', 'pytest', '-q', '-p', 'no:cacheprovider', `--junitxml=${REPORT_PATH}`],
  appendTestFiles: false,
  reportPath: REPORT_PATH,
  requiredDependencies: [],
  exitCodes: {
    2: { outcome: 'error', meaning: 'test execution was interrupted (often a collection or import error)' },
    3: { outcome: 'error', meaning: 'pytest hit an internal error' },
    4: { outcome: 'error', meaning: 'pytest was invoked incorrectly' },
    5: { outcome: 'no_tests', meaning: 'no tests were collected' },
  },
  conventions: [
    'Language: Python 3. Tests use pytest and are run from the project root with `python3 -m pytest`,',
    'which puts the root on sys.path: put modules at the root or in packages (with __init__.py) and',
    'import them absolutely (`from calculator import add`). Put tests in tests/test_*.py (test functions',
    'named test_*). Use only the standard library and the listed dependencies.',
  ].join(' '),
  acceptance: PYTEST_ACCEPTANCE,
};

const NODE_REPORTERS = [
  '--test-reporter=junit',
  `--test-reporter-destination=${REPORT_PATH}`,
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
] as const;

/** node:test's own default patterns, as the conventions tell the model to name test files. */
const NODE_TEST_FILES = String.raw`(^|/)([^/]*[._-])?test\.[cm]?[jt]sx?$|(^|/)test-[^/]*\.[cm]?[jt]sx?$|(^|/)test/[^/]*\.[cm]?[jt]sx?$`;

const NODE_EXIT_CODES: Readonly<Record<number, ExitCodeRule>> = {
  9: { outcome: 'error', meaning: 'node was invoked with an invalid argument' },
};

export const JAVASCRIPT_NODE_TEST: TestPreset = {
  id: 'javascript-node-test',
  language: 'javascript',
  framework: 'node:test',
  // The spec reporter on stdout is there for its side effect: node 20's junit reporter drops a
  // test file's stderr, where a syntax or import error is, and the spec reporter keeps it.
  command: ['node', '--test', ...NODE_REPORTERS],
  appendTestFiles: true,
  testFilePattern: NODE_TEST_FILES,
  reportPath: REPORT_PATH,
  requiredDependencies: [],
  reportsFilesAsCases: true,
  exitCodes: NODE_EXIT_CODES,
  conventions: [
    'Language: JavaScript (ES modules, Node 20). Tests use the built-in runner: `import { test } from',
    "'node:test'` and `import assert from 'node:assert/strict'`. Put source in src/*.js and tests in",
    'test/*.test.js importing with relative paths including the .js extension. Include a package.json',
    'with "type": "module". Use only Node built-ins and the listed dependencies.',
  ].join(' '),
  // Only the acceptance files run, with no NODE_OPTIONS (no --require/--import of a model file).
  acceptance: { command: ['node', '--test', ...NODE_ACCEPTANCE_REPORTERS], env: { NODE_OPTIONS: '' } },
};

export const TYPESCRIPT_NODE_TEST: TestPreset = {
  id: 'typescript-node-test-tsx',
  language: 'typescript',
  framework: 'node:test with tsx',
  command: ['node', '--import', 'tsx', '--test', ...NODE_REPORTERS],
  appendTestFiles: true,
  testFilePattern: NODE_TEST_FILES,
  reportPath: REPORT_PATH,
  requiredDependencies: ['tsx'],
  reportsFilesAsCases: true,
  exitCodes: NODE_EXIT_CODES,
  conventions: [
    'Language: TypeScript run by Node 20 through the tsx loader (no separate compile step). Tests use',
    "the built-in runner: `import { test } from 'node:test'` and `import assert from 'node:assert/strict'`.",
    'Put source in src/*.ts and tests in test/*.test.ts, importing with relative paths. Include a',
    'package.json with "type": "module". Use only Node built-ins and the listed dependencies.',
  ].join(' '),
  // tsx reads the agent's empty tsconfig, not the model's (whose `paths` could redirect imports).
  acceptance: {
    command: ['node', '--import', 'tsx', '--test', ...NODE_ACCEPTANCE_REPORTERS],
    env: { NODE_OPTIONS: '', TSX_TSCONFIG_PATH: '.ptc/acceptance/tsconfig.json' },
    configFiles: [{ path: '.ptc/acceptance/tsconfig.json', content: '{}\n' }],
  },
};

export const DEFAULT_TEST_PRESETS: Readonly<Record<Language, TestPreset>> = {
  python: PYTHON_PYTEST,
  javascript: JAVASCRIPT_NODE_TEST,
  typescript: TYPESCRIPT_NODE_TEST,
};

const ArgvSchema = z.array(z.string().min(1).refine((part) => !part.includes('\u0000'), { error: 'must not contain NUL' })).min(1);
const SafePath = z.string().refine(isSafeRelativePath, { error: 'must be a safe relative path' });

/**
 * What a preset passed through `PTCAgent`'s `testPresets` must look like; checked when the agent
 * is built, so a malformed one fails there with the field named, not every run later.
 */
export const TestPresetSchema = z.strictObject({
  id: z.string().min(1).max(200),
  language: LanguageSchema,
  framework: z.string().min(1).max(200),
  command: ArgvSchema,
  appendTestFiles: z.boolean(),
  testFilePattern: z
    .string()
    .refine(
      (source) => {
        try {
          new RegExp(source);
          return true;
        } catch {
          return false;
        }
      },
      { error: 'must be a valid regular expression' },
    )
    .optional(),
  reportPath: SafePath,
  requiredDependencies: z.array(z.string().min(1)),
  reportsFilesAsCases: z.boolean().optional(),
  exitCodes: z.record(z.string().regex(/^\d+$/), z.strictObject({ outcome: z.enum(['tests', 'no_tests', 'error']), meaning: z.string() })),
  conventions: z.string(),
  acceptance: z
    .strictObject({
      command: ArgvSchema.refine((argv) => argv.some((part) => part.includes(REPORT_PLACEHOLDER)), {
        error: `must name the report's path with ${REPORT_PLACEHOLDER}`,
      }),
      env: z.record(z.string(), z.string()).optional(),
      configFiles: z.array(z.strictObject({ path: SafePath, content: z.string() })).optional(),
    })
    .optional(),
});
