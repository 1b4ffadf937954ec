import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isPTCError, type Language, PTCAgent } from '../../src/index.js';
import { JAVASCRIPT_NODE_TEST, PYTHON_PYTEST } from '../../src/reports/presets.js';
import { judge } from '../../src/reports/verdict.js';
import type { LocalIsolation, LocalSandboxRunnerOptions } from '../../src/runners/local.js';
import { findExecutable, parsePytestPlugins, pytestArgumentsIndex, withPytestPlugins } from '../../src/runners/local/toolchain.js';
import { ScriptedCodeGenerator } from '../../src/testing/index.js';
import { quietRunner, runSuite, signal, SKIP_BWRAP, withSession } from './local-helpers.js';

/**
 * Fail before the first model call (the runner checks the toolchain once, where the tests run),
 * executables resolved once (no shim per run, no PATH that breaks prlimit), and hermetic pytest
 * runs (only the plan's plugins, never the host's).
 */

const scratch = mkdtempSync(join(tmpdir(), 'ptc-local-toolchain-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const isolations: LocalIsolation[] = SKIP_BWRAP ? ['none'] : ['none', 'bwrap'];
const HOST_PATH = process.env.PATH ?? '/usr/bin:/bin';
/** The interpreter a `python3` on the host's PATH stands for (behind a pyenv shim here). */
const REAL_PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
const REAL_NODE = process.execPath;

/** A directory holding `files` (name → content), each executable, for a runner's `path`. */
function binDirectory(name: string, files: Record<string, string>): string {
  const directory = join(scratch, name);
  mkdirSync(directory, { recursive: true });
  for (const [file, content] of Object.entries(files)) {
    writeFileSync(join(directory, file), content);
    chmodSync(join(directory, file), 0o755);
  }
  return directory;
}

const open = (options: LocalSandboxRunnerOptions, language: Language, dependencies: string[] = []) => {
  const { runner, warnings } = quietRunner(options);
  const opening = runner.open({ executionId: `toolchain-${language}`, language, dependencies, env: {}, signal: signal() });
  return { runner, warnings, opening };
};

const failure = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => error);

const PYTHON_FILES = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n', kind: 'source' as const },
  { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' as const },
];

describe('preflight: a missing tool fails open with TEST_PRESET_UNAVAILABLE naming it', () => {
  const empty = binDirectory('empty-bin', {});
  // Real python3, but `import pytest` finds a pytest.py that raises: an interpreter without pytest.
  const noPytest = binDirectory('no-pytest-bin', {
    python3: `#!/bin/sh\nPYTHONPATH="$(dirname "$0")/site" exec ${REAL_PYTHON} "$@"\n`,
  });
  mkdirSync(join(noPytest, 'site'), { recursive: true });
  writeFileSync(join(noPytest, 'site', 'pytest.py'), 'raise ImportError("No module named pytest (test stand-in)")\n');

  const cases: Array<[string, LocalSandboxRunnerOptions, Language, RegExp[]]> = [
    ['python3 is not on the sandbox PATH', { path: empty }, 'python', [/python3 did not start/, new RegExp(empty), /Install Python 3/]],
    ['python3 cannot import pytest', { path: `${noPytest}:${HOST_PATH}` }, 'python', [/pytest does not import/, /ImportError/, /-m pip install pytest/]],
    ['node is not on the sandbox PATH (javascript)', { path: empty }, 'javascript', [/node did not start/, /Install Node\.js/]],
    ['node is not on the sandbox PATH (typescript)', { path: empty }, 'typescript', [/node did not start/]],
    ['prlimit is missing', { prlimitPath: 'ptc-no-such-prlimit' }, 'python', [/prlimit \(util-linux\)/, /was not found on the host's PATH/, /apt-get install util-linux/]],
    ['bwrap is missing under isolation bwrap', { isolation: 'bwrap', bwrapPath: 'ptc-no-such-bwrap' }, 'python', [/bubblewrap \(ptc-no-such-bwrap\) was not found/, /apt-get install bubblewrap/]],
  ];

  describe.each(isolations)('isolation %s', (isolation) => {
    test.each(cases.filter(([, options]) => isolation === 'bwrap' || options.isolation === undefined))('%s', async (_name, options, language, messages) => {
      const { opening } = open({ isolation, ...options }, language);
      const error = await failure(opening);
      expect(isPTCError(error) && error.code).toBe('TEST_PRESET_UNAVAILABLE');
      for (const message of messages) expect((error as Error).message).toMatch(message);
    });
  });

  test('driven through PTCAgent, the run fails with the reason before any model call (the agent awaits preflight)', async () => {
    const aborted: boolean[] = [];
    const generator = new ScriptedCodeGenerator(async (_request, context) => {
      // The run layer starts the model beside the open: what we can guarantee is that this call
      // is abandoned the moment the preflight fails, and that no second one is made.
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, 20_000);
        context.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve(undefined);
        });
      });
      aborted.push(context.signal.aborted);
      return { files: PYTHON_FILES };
    });
    const { runner } = quietRunner({ isolation: isolations.at(-1)!, path: empty });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const bundle = await agent.execute({ taskDescription: 'add two numbers', language: 'python', maxIterations: 3 });
    expect(bundle).toMatchObject({ status: 'failure', stopReason: 'sandbox_failed', error: { code: 'TEST_PRESET_UNAVAILABLE' } });
    expect(bundle.error?.message).toMatch(/python3 did not start/);
    // The agent awaits the runner's preflight before the first model call: none was made.
    expect(generator.calls).toHaveLength(0);
    expect(aborted).toEqual([]);
  }, 60_000);

  test('calling runner.preflight() first makes no model call at all', async () => {
    const generator = new ScriptedCodeGenerator({ files: PYTHON_FILES });
    const { runner } = quietRunner({ isolation: isolations.at(-1)!, path: `${noPytest}:${HOST_PATH}` });
    const agent = new PTCAgent({ generator, runner, cache: false });
    const start = async () => {
      await runner.preflight('python');
      return agent.execute({ taskDescription: 'add two numbers', language: 'python' });
    };
    await expect(start()).rejects.toMatchObject({ code: 'TEST_PRESET_UNAVAILABLE', message: expect.stringMatching(/pytest does not import/) });
    expect(generator.calls).toHaveLength(0);
  }, 60_000);

  test('a failed check is not kept: once pytest imports, the same runner opens', async () => {
    const fixable = binDirectory('fixable-bin', { python3: `#!/bin/sh\nPYTHONPATH="$(dirname "$0")/site" exec ${REAL_PYTHON} "$@"\n` });
    mkdirSync(join(fixable, 'site'), { recursive: true });
    writeFileSync(join(fixable, 'site', 'pytest.py'), 'raise ImportError("not yet")\n');
    const { runner } = quietRunner({ path: `${fixable}:${HOST_PATH}` });
    const opening = () => runner.open({ executionId: 'retry', language: 'python', dependencies: [], env: {}, signal: signal() });
    expect(await failure(opening())).toMatchObject({ code: 'TEST_PRESET_UNAVAILABLE' });
    rmSync(join(fixable, 'site', 'pytest.py'));
    const session = await opening();
    await session.close();
  }, 60_000);

  test('an interpreter without pytest is fine when the plan installs pytest: the install decides', async () => {
    const { opening } = open(
      { path: `${noPytest}:${HOST_PATH}`, cacheDirectory: join(scratch, 'cache-pytest-dep'), installEnv: { PIP_NO_INDEX: '1', PIP_FIND_LINKS: empty }, readOnlyPaths: [empty] },
      'python',
      ['pytest>=7'],
    );
    // No wheel of pytest offline: the install runs (and fails), instead of the preflight refusing.
    expect(await failure(opening)).toMatchObject({ code: 'DEPENDENCY_INSTALL_FAILED', message: expect.stringContaining('pytest>=7') });
  }, 60_000);

  test("'auto' without bwrap still opens (with its warning): bwrap is only required under 'bwrap'", async () => {
    const { opening, warnings } = open({ isolation: 'auto', bwrapPath: 'ptc-no-such-bwrap' }, 'python');
    await (await opening).close();
    expect(warnings.some((message) => message.includes('bubblewrap'))).toBe(true);
  });
});

describe.each(isolations)('executables are resolved once (isolation %s)', (isolation) => {
  test('a pyenv-style shim runs once for the preflight, never for a test run', async () => {
    const log = join(scratch, `shim-calls-${isolation}.log`);
    // Under bwrap only ./.shim-ran (the workspace) is writable; without a jail both are.
    const shim = binDirectory(`shim-bin-${isolation}`, {
      python3: `#!/bin/sh\necho ran >> ./.shim-ran 2>/dev/null\necho ran >> ${log} 2>/dev/null\nexec ${REAL_PYTHON} "$@"\n`,
    });
    const { runner } = quietRunner({ isolation, path: `${shim}:${HOST_PATH}` });
    const files = [
      ...PYTHON_FILES,
      { path: 'tests/test_interpreter.py', content: `import sys\n\ndef test_real_interpreter():\n    assert sys.executable == ${JSON.stringify(REAL_PYTHON)}\n` },
    ];
    for (let round = 0; round < 2; round += 1) {
      await withSession(runner, 'python', async (session) => {
        const report = await runSuite(session, PYTHON_PYTEST, files);
        expect(report).toMatchObject({ success: true, passed: 2 });
        // The report shows the preset's argv as written; the runner ran the real interpreter.
        expect(report.command.startsWith('python3 ')).toBe(true);
        expect(await session.readFile('.shim-ran', { signal: signal() })).toBeUndefined();
      });
    }
    if (isolation === 'none') expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(1);
  }, 60_000);

  test('runner.path set to a Python bin folder still runs the tests under prlimit', async () => {
    const bin = dirname(REAL_PYTHON);
    expect(existsSync(join(bin, 'python3')), `${bin} has no python3`).toBe(true);
    const { runner } = quietRunner({ isolation, path: bin, maxCpuSeconds: 77 });
    await withSession(runner, 'python', async (session) => {
      const report = await runSuite(session, PYTHON_PYTEST, [
        ...PYTHON_FILES,
        {
          path: 'tests/test_limits.py',
          content: 'import re\n\ndef test_cpu_limit_applies():\n    limits = open("/proc/self/limits").read()\n    assert re.search(r"Max cpu time\\s+77\\s", limits), limits\n',
        },
      ]);
      expect(report.stderr).not.toContain('not found');
      expect(report).toMatchObject({ success: true, passed: 2, exitCode: 0 });
    });
  }, 60_000);

  test('node is resolved too, and NODE_OPTIONS of the host never reaches a command', async () => {
    const before = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = '--max-old-space-size=1234';
    try {
      const { runner } = quietRunner({ isolation });
      await withSession(runner, 'javascript', async (session) => {
        const result = await session.run(['node', '-e', 'console.log(JSON.stringify([process.env.NODE_OPTIONS ?? null, process.execPath]))'], {
          timeoutMs: 20_000,
          signal: signal(),
        });
        expect(JSON.parse(result.stdout)).toEqual([null, REAL_NODE]);
        const report = await runSuite(session, JAVASCRIPT_NODE_TEST, [
          { path: 'package.json', content: '{ "type": "module" }\n' },
          { path: 'test/env.test.js', content: "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('no host NODE_OPTIONS', () => assert.equal(process.env.NODE_OPTIONS, undefined));\n" },
        ]);
        expect(report).toMatchObject({ success: true, passed: 1 });
      });
    } finally {
      if (before === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = before;
    }
  }, 60_000);
});

/** The pytest11 plugin modules the host's python3 would autoload. */
const HOST_PLUGINS: string[] = JSON.parse(
  execFileSync(
    REAL_PYTHON,
    ['-c', 'import json, importlib.metadata as m\nprint(json.dumps(sorted({e.value.split(":")[0] for d in m.distributions() for e in d.entry_points if e.group == "pytest11"})))'],
    { encoding: 'utf8' },
  ),
);
if (HOST_PLUGINS.length === 0) console.warn('[local toolchain tests] the host has no pytest plugins installed: the "host plugins are not loaded" test is SKIPPED (pip install hypothesis to run it).');

const wheelhouse = join(scratch, 'wheelhouse');

/** A pure-Python wheel with `entryPoints` as its entry_points.txt, built without any index. */
function buildWheel(name: string, modules: Record<string, string>, entryPoints: string): void {
  const script = `
import sys, zipfile, os, json
out, name, modules, entry_points = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
os.makedirs(out, exist_ok=True)
dist = name.replace("-", "_")
info = f"{dist}-1.0.dist-info"
files = dict(modules)
files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0\\n"
files[f"{info}/WHEEL"] = "Wheel-Version: 1.0\\nGenerator: ptc-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
files[f"{info}/entry_points.txt"] = entry_points
files[f"{info}/RECORD"] = "".join(f"{path},,\\n" for path in files) + f"{info}/RECORD,,\\n"
with zipfile.ZipFile(os.path.join(out, f"{dist}-1.0-py3-none-any.whl"), "w") as archive:
    for path, content in files.items():
        archive.writestr(path, content)
`;
  execFileSync(REAL_PYTHON, ['-c', script, wheelhouse, name, JSON.stringify(modules), entryPoints]);
}

beforeAll(() => {
  // A plugin the plan asks for: it provides a fixture, so a test can only pass when it loaded.
  buildWheel(
    'ptc-pytest-demo',
    { 'ptc_pytest_demo.py': 'import pytest\n\n@pytest.fixture\ndef ptc_demo_value():\n    return 42\n' },
    '[pytest11]\nptc_demo = ptc_pytest_demo\n',
  );
  // Entry points from a registry are input like any other: these must not become pytest options.
  buildWheel('ptc-pytest-hostile', { 'ptc_pytest_hostile.py': '' }, '[pytest11]\nbad = --basetemp=/tmp/owned\nworse = -pno:terminal\n');
});

describe.each(isolations)('hermetic pytest runs (isolation %s)', (isolation) => {
  const offline = { installEnv: { PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheelhouse }, readOnlyPaths: [wheelhouse] };

  test.skipIf(HOST_PLUGINS.length === 0)(`the host's pytest plugins (${HOST_PLUGINS.join(', ')}) load in neither the model's run nor the acceptance run`, async () => {
    const { runner } = quietRunner({ isolation });
    const check = (name: string) =>
      `import sys\n\ndef test_${name}(pytestconfig):\n    loaded = [m for m in ${JSON.stringify(HOST_PLUGINS)} if m in sys.modules or pytestconfig.pluginmanager.has_plugin(m)]\n    assert loaded == []\n    assert "hypothesis" not in sys.modules\n    assert pytestconfig.pluginmanager.list_plugin_distinfo() == []\n`;
    await withSession(runner, 'python', async (session) => {
      const report = await judge(session, PYTHON_PYTEST, {
        files: [...PYTHON_FILES, { path: 'tests/test_own.py', content: check('own'), kind: 'test' }],
        acceptanceFiles: [{ path: 'tests/test_acceptance.py', content: check('acceptance') }],
        signal: signal(),
        timeoutMs: () => 60_000,
      });
      expect(report.cases.filter((testCase) => testCase.status !== 'passed')).toEqual([]);
      expect(report).toMatchObject({ success: true, acceptance: { success: true, passed: 1 } });
    });
  }, 90_000);

  test('a plugin planted in the workspace as a *.dist-info entry point is not loaded', async () => {
    const { runner } = quietRunner({ isolation });
    await withSession(runner, 'python', async (session) => {
      const report = await runSuite(session, PYTHON_PYTEST, [
        { path: 'planted-1.0.dist-info/METADATA', content: 'Metadata-Version: 2.1\nName: planted\nVersion: 1.0\n' },
        { path: 'planted-1.0.dist-info/entry_points.txt', content: '[pytest11]\nplanted = planted_plugin\n' },
        { path: 'planted_plugin.py', content: 'def pytest_collection_modifyitems(items):\n    items.clear()\n' },
        { path: 'tests/test_planted.py', content: 'import sys\n\ndef test_not_loaded():\n    assert "planted_plugin" not in sys.modules\n' },
      ]);
      expect(report).toMatchObject({ success: true, passed: 1 });
    });
  }, 60_000);

  test('a plugin named in the dependencies is loaded (model run and acceptance run); hostile entry points are ignored', async () => {
    const { runner, warnings } = quietRunner({ isolation, cacheDirectory: join(scratch, `cache-${isolation}`), ...offline });
    const uses = (name: string) =>
      `def test_${name}(ptc_demo_value, pytestconfig):\n    assert ptc_demo_value == 42\n    assert pytestconfig.pluginmanager.has_plugin("ptc_pytest_demo")\n`;
    await withSession(
      runner,
      'python',
      async (session) => {
        const report = await judge(session, PYTHON_PYTEST, {
          files: [...PYTHON_FILES, { path: 'tests/test_own_plugin.py', content: uses('own'), kind: 'test' }],
          acceptanceFiles: [{ path: 'tests/test_acceptance_plugin.py', content: uses('acceptance') }],
          signal: signal(),
          timeoutMs: () => 60_000,
        });
        expect(report.cases.filter((testCase) => testCase.status !== 'passed')).toEqual([]);
        expect(report).toMatchObject({ success: true, passed: 3, acceptance: { success: true, passed: 1 } });
      },
      ['ptc-pytest-demo', 'ptc-pytest-hostile'],
    );
    expect(warnings.join('\n')).toMatch(/ignored pytest11 entry points .*--basetemp=\/tmp\/owned.*-pno:terminal/);
  }, 180_000);
});

describe('the pieces, on hostile input', () => {
  test('pytest is found in the built-in invocations and nowhere it is not pytest', () => {
    expect(pytestArgumentsIndex(PYTHON_PYTEST.command)).toBe(4);
    expect(pytestArgumentsIndex(PYTHON_PYTEST.acceptance!.command)).toBe(5);
    expect(pytestArgumentsIndex(['/opt/py/bin/python3.12', '-X', 'dev', '-Wignore', '-m', 'pytest'])).toBe(6);
    expect(pytestArgumentsIndex(['pytest', '-q'])).toBe(1);
    expect(pytestArgumentsIndex(['python3', '-c', 'import pytest', '-m', 'pytest'])).toBe(-1);
    expect(pytestArgumentsIndex(['python3', 'script.py', '-m', 'pytest'])).toBe(-1);
    expect(pytestArgumentsIndex(['python3', '-Bc', 'x', '-m', 'pytest'])).toBe(-1);
    expect(pytestArgumentsIndex(['python3', '-m', 'pip', 'install', 'pytest'])).toBe(-1);
    expect(pytestArgumentsIndex(['node', '--test'])).toBe(-1);
    expect(withPytestPlugins(['python3', '-B', '-m', 'pytest', '-q', 'tests/x.py'], ['a', 'b.c'])).toEqual(['python3', '-B', '-m', 'pytest', '-p', 'a', '-p', 'b.c', '-q', 'tests/x.py']);
  });

  test('only module names become -p arguments', () => {
    const listing = `noise\nptc-plugins=${JSON.stringify(['pkg.plugin', 'pkg.plugin', 'mod:object', '--junitxml=/x', '-pno:terminal', '', 'a b', 7, '../evil', 'x'.repeat(200)])}\n`;
    const { modules, rejected } = parsePytestPlugins(listing);
    expect(modules).toEqual(['mod', 'pkg.plugin', 'x'.repeat(200)]);
    expect(rejected).toEqual(['--junitxml=/x', '-pno:terminal', '', 'a b', '7', '../evil']);
    // `no:terminal` is module `no`, attribute `terminal`: as its own argv element after -p it is a
    // module name (a failing import, as autoloading it would be), never pytest's `no:` switch.
    expect(withPytestPlugins(['pytest'], parsePytestPlugins('ptc-plugins=["no:terminal"]').modules)).toEqual(['pytest', '-p', 'no']);
    expect(() => parsePytestPlugins('ptc-plugins={"not": "a list"}')).toThrow();
  });

  test('findExecutable looks only at absolute PATH entries and executable files', () => {
    const directory = binDirectory('find-bin', { tool: '#!/bin/sh\n' });
    writeFileSync(join(directory, 'plain'), '');
    expect(findExecutable('tool', `relative:${directory}`)).toBe(join(directory, 'tool'));
    expect(findExecutable('plain', directory)).toBeUndefined();
    expect(findExecutable('tool', 'relative')).toBeUndefined();
    expect(findExecutable(join(directory, 'tool'), '')).toBe(join(directory, 'tool'));
  });
});
