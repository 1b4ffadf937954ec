import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { isPTCError } from '../../src/errors.js';
import { JAVASCRIPT_NODE_TEST, PYTHON_PYTEST, TYPESCRIPT_NODE_TEST } from '../../src/reports/presets.js';
import { LocalSandboxRunner } from '../../src/runners/local.js';
import { sandboxRunnerConformance } from '../../src/testing/conformance/sandbox-runner.js';
import { HAS_BWRAP, IN_CI, processesWith, quietRunner, runSuite, signal, SKIP_BWRAP, withSession } from './local-helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'ptc-local-runner-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('LocalSandboxRunner conformance, isolation none', () => {
  sandboxRunnerConformance(test, () => quietRunner({ isolation: 'none' }).runner, { name: 'conformance (none)', outputCallback: 'live' });
});

describe.skipIf(SKIP_BWRAP)(`LocalSandboxRunner conformance, isolation bwrap${SKIP_BWRAP ? ' (SKIPPED: bwrap missing)' : ''}`, () => {
  sandboxRunnerConformance(test, () => quietRunner({ isolation: 'bwrap' }).runner, { name: 'conformance (bwrap)', outputCallback: 'live' });
});

describe('options are validated once, in the constructor', () => {
  test.each([
    [{ isolation: 'docker' }, 'isolation'],
    [{ installTimeoutMs: 0 }, 'installTimeoutMs'],
    [{ installTimeoutMs: 2 ** 31 }, 'installTimeoutMs'],
    [{ maxMemoryBytes: -1 }, 'maxMemoryBytes'],
    [{ maxProcesses: 1.5 }, 'maxProcesses'],
    [{ env: { 'BAD NAME': 'x' } }, 'env'],
    [{ readOnlyPaths: ['relative/path'] }, 'readOnlyPaths'],
    [{ workspaceRoot: '' }, 'workspaceRoot'],
  ])('%j throws a TypeError naming %s', (options, name) => {
    expect(() => new LocalSandboxRunner(options as never)).toThrow(TypeError);
    expect(() => new LocalSandboxRunner(options as never)).toThrow(name);
  });

  test('the constructor does no I/O: a missing bwrap only matters at open', async () => {
    const runner = new LocalSandboxRunner({ isolation: 'bwrap', bwrapPath: '/nonexistent/bwrap' });
    await expect(runner.open({ executionId: 'x', language: 'python', dependencies: [], env: {}, signal: signal() })).rejects.toMatchObject({
      code: 'TEST_PRESET_UNAVAILABLE',
      message: expect.stringContaining('/nonexistent/bwrap'),
    });
  });

  test("'auto' without bwrap warns once and still runs, with the limits", async () => {
    const { runner, warnings } = quietRunner({ isolation: 'auto', bwrapPath: '/nonexistent/bwrap' });
    expect(await runner.effectiveIsolation()).toBe('none');
    await withSession(runner, 'python', async (session) => {
      const result = await session.run(['sh', '-c', 'grep -E "^Max (cpu time|data size)" /proc/self/limits'], { timeoutMs: 10_000, signal: signal() });
      expect(result.stdout).toMatch(/Max cpu time\s+120/);
    });
    expect(warnings.filter((message) => message.includes('bubblewrap'))).toHaveLength(1);
  });
});

describe('the environment is an explicit allowlist', () => {
  test('PATH, HOME = workspace, LANG, runner env and open env arrive; nothing else of the host', async () => {
    process.env.PTC_TEST_HOST_ONLY = 'leak';
    try {
      const { runner } = quietRunner({ env: { FROM_RUNNER: 'r' } });
      const session = await runner.open({ executionId: 'env', language: 'python', dependencies: [], env: { FROM_OPEN: 'o' }, signal: signal() });
      try {
        const result = await session.run(['sh', '-c', 'env; pwd'], { timeoutMs: 10_000, signal: signal(), env: { FROM_RUN: 'x' } });
        const names = result.stdout
          .split('\n')
          .filter((line) => line.includes('='))
          .map((line) => line.slice(0, line.indexOf('=')));
        const cwd = result.stdout.trim().split('\n').at(-1)!;
        expect(result.stdout).toContain(`HOME=${cwd}\n`);
        expect(result.stdout).toContain('FROM_RUNNER=r\n');
        expect(result.stdout).toContain('FROM_OPEN=o\n');
        expect(names).toEqual(expect.arrayContaining(['PATH', 'HOME', 'LANG', 'FROM_RUNNER', 'FROM_OPEN', 'FROM_RUN']));
        expect(result.stdout).not.toContain('PTC_TEST_HOST_ONLY');
        // Only the allowlist, what the runner adds on purpose, and what the shell itself sets.
        const allowed = new Set(['PATH', 'HOME', 'LANG', 'TMPDIR', 'PYTHONDONTWRITEBYTECODE', 'PYTEST_DISABLE_PLUGIN_AUTOLOAD', 'FROM_RUNNER', 'FROM_OPEN', 'FROM_RUN', 'PWD', 'SHLVL', 'OLDPWD', '_']);
        expect(names.filter((name) => !allowed.has(name))).toEqual([]);
      } finally {
        await session.close();
      }
    } finally {
      delete process.env.PTC_TEST_HOST_ONLY;
    }
  });
});

describe('workspaces are fresh and removed on every exit path', () => {
  test('close removes the workspace, including files commands wrote', async () => {
    const root = mkdtempSync(join(scratch, 'ws-'));
    const { runner } = quietRunner({ workspaceRoot: root });
    await withSession(runner, 'python', async (session) => {
      await session.run(['sh', '-c', 'mkdir -p deep/er && echo x > deep/er/f && chmod 000 deep/er'], { timeoutMs: 10_000, signal: signal() });
      expect(readdirSync(root)).toHaveLength(1);
    });
    expect(readdirSync(root)).toEqual([]);
  });

  test('a failed open (dependency install) leaves no workspace behind and says what failed', async () => {
    const root = mkdtempSync(join(scratch, 'ws-'));
    const { runner } = quietRunner({
      workspaceRoot: root,
      cacheDirectory: join(scratch, 'deps-fail'),
      installEnv: { PIP_NO_INDEX: '1', PIP_FIND_LINKS: scratch },
      readOnlyPaths: [scratch],
    });
    const error = await runner
      .open({ executionId: 'fail', language: 'python', dependencies: ['ptc-no-such-package-anywhere'], env: {}, signal: signal() })
      .then(() => undefined, (caught: unknown) => caught);
    expect(isPTCError(error) && error.code).toBe('DEPENDENCY_INSTALL_FAILED');
    expect((error as Error).message).toContain('ptc-no-such-package-anywhere');
    expect(readdirSync(root)).toEqual([]);
    expect(readdirSync(join(scratch, 'deps-fail')).filter((name) => name.startsWith('.staging'))).toEqual([]);
  });

  test('an aborted open rejects with ABORTED and leaves no workspace', async () => {
    const root = mkdtempSync(join(scratch, 'ws-'));
    const { runner } = quietRunner({ workspaceRoot: root, cacheDirectory: join(scratch, 'deps-abort'), installEnv: { PIP_NO_INDEX: '1' } });
    const controller = new AbortController();
    // pip itself takes a few hundred ms to start: the abort lands during the install.
    setTimeout(() => controller.abort(), 150);
    await expect(
      runner.open({ executionId: 'abort', language: 'python', dependencies: ['anything-at-all'], env: {}, signal: controller.signal }),
    ).rejects.toMatchObject({ code: 'ABORTED' });
    expect(readdirSync(root)).toEqual([]);
  });
});

describe('files cannot be redirected outside the workspace', () => {
  test('a symbolic link planted by a command is refused for reads, and a sync replaces it without following it', async () => {
    const outside = mkdtempSync(join(scratch, 'outside-'));
    const { runner } = quietRunner({ isolation: 'none' });
    await withSession(runner, 'python', async (session) => {
      await session.run(['ln', '-s', outside, 'evil'], { timeoutMs: 10_000, signal: signal() });
      await session.run(['ln', '-s', '/etc/hostname', 'leak.txt'], { timeoutMs: 10_000, signal: signal() });
      const isUnsafe = (error: unknown) => isPTCError(error) && error.code === 'PATH_UNSAFE';
      await expect(session.readFile('leak.txt', { signal: signal() })).rejects.toSatisfy(isUnsafe);
      await expect(session.readFile('evil/anything', { signal: signal() })).rejects.toSatisfy(isUnsafe);
      const hostname = readFileSync('/etc/hostname', 'utf8');
      // The sync builds a fresh tree: the links are gone, never followed.
      await session.sync([{ path: 'evil/escape.txt', content: 'x' }, { path: 'leak.txt', content: 'y' }], { signal: signal() });
      expect(readdirSync(outside)).toEqual([]);
      expect(readFileSync('/etc/hostname', 'utf8')).toBe(hostname);
      expect(await session.readFile('leak.txt', { signal: signal() })).toBe('y');
      expect(await session.readFile('evil/escape.txt', { signal: signal() })).toBe('x');
    });
  });

  test('readFile refuses a file over its cap instead of cutting it', async () => {
    const { runner } = quietRunner({ maxReadFileBytes: 1000 });
    await withSession(runner, 'python', async (session) => {
      await session.sync([{ path: 'big.txt', content: 'y'.repeat(5000) }, { path: 'small.txt', content: 'ok' }], { signal: signal() });
      await expect(session.readFile('big.txt', { signal: signal() })).rejects.toSatisfy((error: unknown) => isPTCError(error) && error.code === 'OUTPUT_REJECTED');
      expect(await session.readFile('small.txt', { signal: signal() })).toBe('ok');
    });
  });
});

describe('real pytest runs through the python preset', () => {
  const { runner } = quietRunner();

  test('a passing suite is green; a failing assertion is red with its message', async () => {
    await withSession(runner, 'python', async (session) => {
      const tests = { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_zero():\n    assert add(0, 0) == 0\n' };
      const green = await runSuite(session, PYTHON_PYTEST, [{ path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' }, tests]);
      expect(green).toMatchObject({ success: true, passed: 2, failed: 0, errored: 0, exitCode: 0 });

      const red = await runSuite(session, PYTHON_PYTEST, [{ path: 'calc.py', content: 'def add(a, b):\n    return a - b\n' }, tests]);
      expect(red).toMatchObject({ success: false, passed: 1, failed: 1 });
      expect(red.cases.find((testCase) => testCase.status === 'failed')?.message).toMatch(/assert -1 == 3/);
    });
  });

  test('no bytecode cache: a same-size rewrite within the same second is never run stale', async () => {
    await withSession(runner, 'python', async (session) => {
      await session.sync([{ path: 'calc.py', content: 'VALUE = 1\n' }], { signal: signal() });
      const probe = ['python3', '-c', 'import sys, calc; print(sys.dont_write_bytecode, calc.VALUE)'];
      expect((await session.run(probe, { timeoutMs: 20_000, signal: signal() })).stdout.trim()).toBe('True 1');
      await session.sync([{ path: 'calc.py', content: 'VALUE = 2\n' }], { signal: signal() });
      expect((await session.run(probe, { timeoutMs: 20_000, signal: signal() })).stdout.trim()).toBe('True 2');
      const listing = await session.run(['sh', '-c', 'find . -name "*.pyc" | wc -l'], { timeoutMs: 20_000, signal: signal() });
      expect(listing.stdout.trim()).toBe('0');
    });
  });

  test('a syntax error and a missing module become errored cases naming the problem', async () => {
    await withSession(runner, 'python', async (session) => {
      const report = await runSuite(session, PYTHON_PYTEST, [
        { path: 'broken.py', content: 'def f(:\n    pass\n' },
        { path: 'tests/test_syntax.py', content: 'from broken import f\n\ndef test_f():\n    f()\n' },
        { path: 'tests/test_import.py', content: 'import ptc_missing_module\n\ndef test_x():\n    pass\n' },
      ]);
      expect(report.success).toBe(false);
      expect(report.exitCode).toBe(2);
      const messages = report.cases.filter((testCase) => testCase.status === 'errored').map((testCase) => testCase.message ?? '');
      expect(messages.some((message) => message.includes('SyntaxError'))).toBe(true);
      expect(messages.some((message) => message.includes("No module named 'ptc_missing_module'"))).toBe(true);
    });
  });

  test('no tests collected (pytest exit 5) is red', async () => {
    await withSession(runner, 'python', async (session) => {
      const report = await runSuite(session, PYTHON_PYTEST, [{ path: 'calc.py', content: 'X = 1\n' }]);
      expect(report).toMatchObject({ success: false, exitCode: 5 });
      expect(report.problem).toContain('no tests');
    });
  });

  test('an infinite loop times out, is reported, and leaves no process behind', async () => {
    await withSession(runner, 'python', async (session) => {
      const report = await runSuite(
        session,
        PYTHON_PYTEST,
        [{ path: 'tests/test_loop.py', content: 'import subprocess\n\ndef test_forever():\n    subprocess.Popen(["sleep", "987.654"])\n    while True:\n        pass\n' }],
        2_000,
      );
      expect(report).toMatchObject({ success: false, timedOut: true, exitCode: null });
      expect(report.problem).toContain('timed out');
      expect(processesWith('987.654')).toEqual([]);
    });
  });
});

describe('real node:test runs through the javascript preset', () => {
  const { runner } = quietRunner();
  const packageJson = { path: 'package.json', content: '{ "type": "module" }\n' };
  const source = { path: 'src/calc.js', content: 'export const add = (a, b) => a + b;\n' };

  test('a passing suite is green; a failing assertion is red with its message', async () => {
    await withSession(runner, 'javascript', async (session) => {
      const green = await runSuite(session, JAVASCRIPT_NODE_TEST, [
        packageJson,
        source,
        { path: 'test/calc.test.js', content: "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/calc.js';\ntest('adds', () => assert.equal(add(1, 2), 3));\n" },
      ]);
      expect(green).toMatchObject({ success: true, passed: 1, failed: 0, errored: 0 });

      const red = await runSuite(session, JAVASCRIPT_NODE_TEST, [{ path: 'src/calc.js', content: 'export const add = (a, b) => a - b;\n' }].concat([
        { path: 'test/calc.test.js', content: "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/calc.js';\ntest('adds', () => assert.equal(add(1, 2), 3));\n" },
      ]));
      expect(red).toMatchObject({ success: false, failed: 1 });
      expect(red.cases[0]?.message).toMatch(/-1 !== 3/);
    });
  });

  test('a syntax error and a missing module become errored cases with the load error', async () => {
    await withSession(runner, 'javascript', async (session) => {
      const report = await runSuite(session, JAVASCRIPT_NODE_TEST, [
        packageJson,
        source,
        { path: 'test/ok.test.js', content: "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\ntest('fine', () => assert.ok(true));\ntest('wrong', () => assert.equal(1, 2));\n" },
        { path: 'test/syntax.test.js', content: 'let = = ;\n' },
        { path: 'test/import.test.js', content: "import x from 'ptc-missing-package';\n" },
      ]);
      expect(report.success).toBe(false);
      const syntax = report.cases.find((testCase) => testCase.name === 'test/syntax.test.js');
      const missing = report.cases.find((testCase) => testCase.name === 'test/import.test.js');
      expect(syntax).toMatchObject({ status: 'errored' });
      expect(syntax?.message).toContain('SyntaxError');
      expect(missing).toMatchObject({ status: 'errored' });
      expect(missing?.message).toContain("Cannot find package 'ptc-missing-package'");
      // The neighbouring failure keeps its own message, not the load errors.
      expect(report.cases.find((testCase) => testCase.name === 'wrong')?.message).toMatch(/1 !== 2/);
      expect(report).toMatchObject({ passed: 1, failed: 1, errored: 2 });
    });
  });

  test('test files without a single test are "no tests", not green', async () => {
    await withSession(runner, 'javascript', async (session) => {
      const report = await runSuite(session, JAVASCRIPT_NODE_TEST, [packageJson, source, { path: 'test/empty.test.js', content: "import '../src/calc.js';\n" }]);
      expect(report.success).toBe(false);
      expect(report.problem).toContain('no tests');
      expect(report.passed).toBe(0);
    });
  });
});

describe('the typescript preset', () => {
  test('without tsx among the dependencies, open says what to install', async () => {
    const { runner } = quietRunner();
    const error = await runner
      .open({ executionId: 'ts', language: 'typescript', dependencies: [], env: {}, signal: signal() })
      .then(() => undefined, (caught: unknown) => caught);
    expect(isPTCError(error) && error.code).toBe('TEST_PRESET_UNAVAILABLE');
    expect((error as Error).message).toContain('tsx');
  });

  // Installs tsx from the npm registry once into a cache kept between test runs.
  test('with tsx installed, real TypeScript tests run green and red', async () => {
    const { runner } = quietRunner({ cacheDirectory: join(tmpdir(), 'ptc-agent-test-deps') });
    const session = await runner.open({ executionId: 'ts', language: 'typescript', dependencies: [...TYPESCRIPT_NODE_TEST.requiredDependencies], env: {}, signal: signal() });
    try {
      const files = [
        { path: 'package.json', content: '{ "type": "module" }\n' },
        { path: 'src/calc.ts', content: 'export const add = (a: number, b: number): number => a + b;\n' },
        { path: 'test/calc.test.ts', content: "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/calc.ts';\ntest('adds', () => assert.equal(add(1, 2), 3));\n" },
      ];
      const green = await runSuite(session, TYPESCRIPT_NODE_TEST, files);
      expect(green).toMatchObject({ success: true, passed: 1 });
      const red = await runSuite(session, TYPESCRIPT_NODE_TEST, [{ path: 'test/broken.test.ts', content: 'const x: number = ;\n' }]);
      expect(red.success).toBe(false);
      expect(red.cases.find((testCase) => testCase.name === 'test/broken.test.ts')).toMatchObject({ status: 'errored' });
    } finally {
      await session.close();
    }
  }, 180_000);
});

// Runs in CI, where a missing bwrap must fail rather than skip the isolation tests; elsewhere a
// missing bwrap is allowed (those tests skip loudly), so there is nothing to check.
test.skipIf(!IN_CI)(`CI has bubblewrap (the isolation tests must not be skipped there)${IN_CI ? '' : ' (SKIPPED: only checked in CI)'}`, () => {
  expect(HAS_BWRAP, 'bwrap is missing in CI: apt-get install -y bubblewrap').toBe(true);
});
