import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { SandboxFile, SandboxSession } from '../../src/contracts/sandbox-runner.js';
import { PTCAgent } from '../../src/index.js';
import { ScriptedCodeGenerator } from '../../src/testing/index.js';
import { PYTHON_PYTEST } from '../../src/reports/presets.js';
import type { LocalIsolation, LocalSandboxRunnerOptions } from '../../src/runners/local.js';
import { importableNames, warmPytestArguments } from '../../src/runners/local/warm-python.js';
import { freshRoot, parentOf, processesWith, quietRunner, recordingRunner, runSuite, signal, SKIP_BWRAP, warmRuns, withOwnRoot } from './local-helpers.js';

/** Text in every standby's command line (the bootstrap's function name). */
const STANDBY_MARKER = '_ptc_standby';

const withWarm = <T>(isolation: LocalIsolation, body: (session: SandboxSession, root: string) => Promise<T>, options: LocalSandboxRunnerOptions = {}): Promise<T> =>
  withOwnRoot('python', { isolation, warmPython: true, ...options }, body);

/** The preset's own command, as the model's run sends it. */
async function run(session: SandboxSession, files: SandboxFile[], timeoutMs = 30_000) {
  await session.sync(files, { signal: signal() });
  return session.run(PYTHON_PYTEST.command, { timeoutMs, signal: signal() });
}

/** What a cold run of `files` prints, from a session without warm runs. */
function coldRun(isolation: LocalIsolation, files: SandboxFile[]) {
  return withOwnRoot('python', { isolation, warmPython: false }, async (session) => ({ result: await run(session, files), session }));
}

/** Timings and the session's own directories (its root, its workspace) are the only differences allowed. */
const withoutTimings = (text: string) =>
  text
    .replace(/ in \d+\.\d+s/g, ' in Ns')
    .replaceAll(/ptc-warm-test-[A-Za-z0-9]+\//g, '')
    .replaceAll(/ptc-workspace-[A-Za-z0-9]+(\/w)?/g, 'WS');

const CALC: SandboxFile = { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' };

/** A copy of a preloaded standard module, plus a marker: shadowing it must not break pytest. */
const shadowingTextwrap: SandboxFile = {
  path: 'textwrap.py',
  content: [
    'import os, sysconfig',
    'exec(compile(open(os.path.join(sysconfig.get_paths()["stdlib"], "textwrap.py")).read(), "textwrap-stdlib", "exec"))',
    'FROM_WORKSPACE = True',
  ].join('\n'),
};

describe('warm runs: pure helpers', () => {
  test('only `<python> -B -m pytest …` with the standby interpreter is warm', () => {
    expect(warmPytestArguments(['/py', '-B', '-m', 'pytest', '-q'], '/py')).toEqual(['-q']);
    expect(warmPytestArguments(['/other', '-B', '-m', 'pytest'], '/py')).toBeUndefined();
    // The acceptance invocation's `-s` (and its PYTHONSAFEPATH env) needs another interpreter state.
    expect(warmPytestArguments(['/py', '-B', '-s', '-m', 'pytest'], '/py')).toBeUndefined();
    expect(warmPytestArguments(['/py', '-m', 'pytest'], '/py')).toBeUndefined();
    expect(warmPytestArguments(['/py', '-B', '-m', 'pytest_other'], '/py')).toBeUndefined();
  });

  test('importable names cover nested directories and file stems', () => {
    expect([...importableNames(['tests/json.py', 'pkg/sub/mod.py', 'README.md'])].sort()).toEqual(['README', 'json', 'mod', 'pkg', 'sub', 'tests']);
  });
});

describe('warmPython is on by default, and can be turned off', () => {
  const files = [CALC, { path: 'tests/test_calc.py', content: 'from calc import add\ndef test_add():\n    assert add(1, 2) == 3\n' }];

  test('a default runner keeps a standby and runs the model\'s run warm', async () => {
    const root = await withOwnRoot('python', { isolation: 'none' }, async (session, root) => {
      const result = await run(session, files);
      expect(result.exitCode).toBe(0);
      expect(warmRuns(session)).toBe(1);
      return root;
    });
    // close() took the next standby down with the session.
    expect(processesWith(STANDBY_MARKER, root)).toEqual([]);
  }, 60_000);

  test('a session opened with prepareTestRuns: false (verifyBundle\'s) starts no standby and runs cold', async () => {
    const root = freshRoot();
    const { runner } = quietRunner({ isolation: 'none', workspaceRoot: root });
    const standbyOf = (session: SandboxSession) => (session as unknown as { standby: unknown }).standby;
    const prepared = await runner.open({ executionId: 'prepared', language: 'python', dependencies: [], env: {}, signal: signal() });
    const unprepared = await runner.open({ executionId: 'verify', language: 'python', dependencies: [], env: {}, signal: signal(), prepareTestRuns: false });
    try {
      // The default session starts its standby as it opens; the other never does.
      expect(standbyOf(prepared)).toBeDefined();
      expect(standbyOf(unprepared)).toBeUndefined();
      const result = await run(unprepared, files);
      expect(result.exitCode).toBe(0);
      expect(warmRuns(unprepared)).toBe(0);
      expect(standbyOf(unprepared)).toBeUndefined();
    } finally {
      await Promise.all([prepared.close(), unprepared.close()]);
      rmSync(root, { recursive: true, force: true });
    }
  }, 60_000);

  test('warmPython: false starts no standby and runs cold', async () => {
    await withOwnRoot('python', { isolation: 'none', warmPython: false }, async (session, root) => {
      const result = await run(session, files);
      expect(result.exitCode).toBe(0);
      expect(warmRuns(session)).toBe(0);
      expect(processesWith(STANDBY_MARKER, root)).toEqual([]);
    });
  }, 60_000);
});

for (const isolation of ['none', 'bwrap'] as const) {
  const skip = isolation === 'bwrap' && SKIP_BWRAP;
  describe.skipIf(skip)(`warm runs, isolation ${isolation}${skip ? ' (SKIPPED: bwrap missing)' : ''}`, () => {
    test('the output and report equal a cold run of the same files (timings aside), failures included', async () => {
      const files: SandboxFile[] = [
        CALC,
        // queue is not preloaded: it stays warm, and must then behave as cold does.
        { path: 'queue.py', content: 'MARK = "workspace queue"\n' },
        {
          path: 'tests/test_calc.py',
          content: [
            'import queue, sys',
            'from calc import add',
            'def test_add():\n    assert add(1, 2) == 3',
            'def test_queue_is_the_workspace_one():\n    assert queue.MARK == "workspace queue"',
            'def test_fails():\n    value = {"a": add(1, 1)}\n    assert value == {"a": 3}',
            'def test_path():\n    print(sys.path[:2], sys.argv, sys.orig_argv)\n    assert False',
          ].join('\n\n'),
        },
      ];
      const cold = await coldRun(isolation, files);
      await withWarm(isolation, async (session) => {
        const warm = await run(session, files);
        expect(warmRuns(session)).toBe(1);
        expect(warm.exitCode).toBe(cold.result.exitCode);
        expect(warm.exitCode).toBe(1);
        expect(withoutTimings(warm.stdout)).toBe(withoutTimings(cold.result.stdout));
        expect(withoutTimings(warm.stderr)).toBe(withoutTimings(cold.result.stderr));
        expect(warm.stdout).toContain('2 failed, 2 passed');
        expect(warm.stdout).toContain("assert {'a': 2} == {'a': 3}");
        const report = await session.readFile('.ptc/junit.xml', { signal: signal() });
        expect(report).toContain('tests="4"');
      });
    }, 90_000);

    test('a workspace module shadowing a preloaded one (textwrap.py) runs as cold does: the workspace copy', async () => {
      const files: SandboxFile[] = [
        shadowingTextwrap,
        { path: 'tests/test_shadow.py', content: 'import textwrap\ndef test_shadow():\n    assert getattr(textwrap, "FROM_WORKSPACE", False)\n' },
      ];
      const cold = await coldRun(isolation, files);
      expect(cold.result.exitCode).toBe(0);
      await withWarm(isolation, async (session) => {
        const result = await run(session, files);
        expect(result.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(0);
        // A nested file of that name too (pytest's prepend mode puts tests/ on sys.path).
        const nested = await run(session, [
          { ...shadowingTextwrap, path: 'tests/textwrap.py' },
          { path: 'tests/test_shadow.py', content: 'import textwrap\ndef test_plain():\n    assert textwrap.dedent("  x") == "x"\n' },
        ]);
        expect(nested.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(0);
        // The next plain run is warm again.
        const plain = await run(session, [CALC, { path: 'tests/test_calc.py', content: 'from calc import add\ndef test_add():\n    assert add(1, 2) == 3\n' }]);
        expect(plain.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(1);
      });
    }, 90_000);

    test('every run has its own hash seed and random state', async () => {
      await withWarm(isolation, async (session) => {
        const seen = new Set<string>();
        for (let index = 0; index < 3; index += 1) {
          const result = await run(session, [
            { path: 'tests/test_seed.py', content: 'import random\ndef test_seed():\n    open("seed.txt", "w").write("%d %r" % (hash("x"), random.random()))\n' },
          ]);
          expect(result.exitCode).toBe(0);
          const line = await session.readFile('seed.txt', { signal: signal() });
          expect(line).toMatch(/^-?\d+ 0\.\d+/);
          for (const part of line!.split(' ')) expect([...seen]).not.toContain(part);
          for (const part of line!.split(' ')) seen.add(part);
        }
        expect(warmRuns(session)).toBe(3);
      });
    }, 90_000);

    test('the control channel is closed before tests run: the same descriptors as cold, no socket or FIFO anywhere near', async () => {
      const files: SandboxFile[] = [
        {
          path: 'tests/test_fds.py',
          content: [
            'import os, stat',
            'def kind(fd):',
            '    try:',
            '        target = os.readlink("/proc/self/fd/%s" % fd)',
            '    except OSError:',
            '        return "gone"',
            '    return target.split(":")[0] if ":" in target else "file"',
            'def test_fds():',
            '    kinds = sorted(kind(fd) for fd in os.listdir("/proc/self/fd"))',
            '    special = []',
            '    for directory in (os.getcwd(), os.path.dirname(os.getcwd())):',
            '        for base, dirs, names in os.walk(directory):',
            '            for name in names + dirs:',
            '                mode = os.lstat(os.path.join(base, name)).st_mode',
            '                if stat.S_ISSOCK(mode) or stat.S_ISFIFO(mode):',
            '                    special.append(name)',
            '    open("fds.txt", "w").write(" ".join(kinds) + "|" + " ".join(special))',
          ].join('\n'),
        },
      ];
      // Its own workspace root: the test walks the workspace's parent, which must not be all of /tmp.
      const coldRoot = freshRoot();
      const { runner } = quietRunner({ isolation, warmPython: false, workspaceRoot: coldRoot });
      const cold = await runner.open({ executionId: 'cold', language: 'python', dependencies: [], env: {}, signal: signal() });
      let coldListing: string | undefined;
      try {
        expect((await run(cold, files)).exitCode).toBe(0);
        coldListing = await cold.readFile('fds.txt', { signal: signal() });
      } finally {
        await cold.close();
        rmSync(coldRoot, { recursive: true, force: true });
      }
      await withWarm(isolation, async (session) => {
        expect((await run(session, files)).exitCode).toBe(0);
        expect(warmRuns(session)).toBe(1);
        const listing = await session.readFile('fds.txt', { signal: signal() });
        expect(listing).toBe(coldListing);
        // Cold has sockets too (stdout and stderr are socket pairs): an open fd 3 is one more.
        expect(listing!.split('|')[1]).toBe('');
      });
    }, 90_000);

    test('a killed or stopped standby means a cold run with the right report', async () => {
      const failing: SandboxFile[] = [CALC, { path: 'tests/test_calc.py', content: 'from calc import add\ndef test_add():\n    assert add(1, 2) == 4\n' }];
      await withWarm(isolation, async (session, root) => {
        // Let the session's first standby finish loading, then kill it (and its jail).
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const standbys = processesWith(STANDBY_MARKER, root);
        expect(standbys.length).toBeGreaterThan(0);
        for (const pid of standbys) process.kill(pid, 'SIGKILL');
        const killed = await runSuite(session, PYTHON_PYTEST, failing);
        expect(warmRuns(session)).toBe(0);
        expect(killed.cases.map((testCase) => [testCase.name, testCase.status])).toEqual([['test_add', 'failed']]);

        // A stopped standby: alive, never answering.
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        const stopped = processesWith(STANDBY_MARKER, root);
        expect(stopped.length).toBeGreaterThan(0);
        for (const pid of stopped) process.kill(pid, 'SIGSTOP');
        const silent = await runSuite(session, PYTHON_PYTEST, failing);
        expect(warmRuns(session)).toBe(0);
        expect(silent.cases.map((testCase) => [testCase.name, testCase.status])).toEqual([['test_add', 'failed']]);
        // The stopped one was killed, not left behind.
        for (const pid of stopped) expect(processesWith(STANDBY_MARKER, root)).not.toContain(pid);

        // And the next one is warm, with the same verdict.
        const warm = await runSuite(session, PYTHON_PYTEST, failing);
        expect(warmRuns(session)).toBe(1);
        expect(warm.cases.map((testCase) => [testCase.name, testCase.status])).toEqual([['test_add', 'failed']]);
      });
    }, 120_000);

    test('a warm run killed midway from outside (SIGKILL) is re-run cold from the synced files, with the cold verdict', async () => {
      // Fails if run twice on the same workspace: a cold re-run must start from the synced files.
      const files: SandboxFile[] = [
        CALC,
        {
          path: 'tests/test_once.py',
          content: [
            'import os, time',
            'from calc import add',
            'def test_once():',
            '    assert not os.path.exists("ran.txt")',
            '    open("ran.txt", "w").write("ran")',
            '    time.sleep(3)',
            '    assert add(1, 2) == 3',
          ].join('\n'),
        },
      ];
      await withWarm(isolation, async (session, root) => {
        await session.sync(files, { signal: signal() });
        const running = session.run(PYTHON_PYTEST.command, { timeoutMs: 60_000, signal: signal() });
        // Once the warm run's test has started, kill the standby's outermost process (our child).
        const deadline = Date.now() + 30_000;
        let killed = 0;
        while (killed === 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          const found = execFileSync('find', [root, '-name', 'ran.txt'], { encoding: 'utf8' }).trim();
          if (!found) continue;
          for (const pid of processesWith(STANDBY_MARKER, root)) {
            if (parentOf(pid) === process.pid) {
              process.kill(pid, 'SIGKILL');
              killed += 1;
            }
          }
        }
        expect(killed).toBe(1);
        const result = await running;
        expect(result.exitCode, result.stdout + result.stderr).toBe(0);
        expect(result.stdout).toContain('1 passed');
        expect(result.stderr).not.toContain('SIGKILL');
        expect(warmRuns(session)).toBe(0);
        expect((session as unknown as { warmRetries: number }).warmRetries).toBe(1);
        // And the next run is warm again.
        expect((await run(session, files)).exitCode).toBe(0);
        expect(warmRuns(session)).toBe(1);
      });
    }, 120_000);

    test('limits apply per run: CPU seconds do not add up across runs, and a timeout kills the run and what it started', async () => {
      const burn = (seconds: number) => [
        { path: 'tests/test_burn.py', content: `import time\ndef test_burn():\n    end = time.process_time() + ${seconds}\n    while time.process_time() < end:\n        pass\n` },
      ];
      await withWarm(
        isolation,
        async (session) => {
          // 3 × 1.2 s of CPU under a 2 s limit: fine only if each run gets its own.
          for (let index = 0; index < 3; index += 1) {
            const result = await run(session, burn(1.2));
            expect(result.exitCode).toBe(0);
          }
          expect(warmRuns(session)).toBe(3);
          const over = await run(session, burn(5));
          expect(warmRuns(session)).toBe(4);
          expect(over.exitCode).not.toBe(0);
          expect(over.stderr).toContain('SIGXCPU');

          const marker = `ptc-warm-orphan-${Date.now()}`;
          const hung = await run(
            session,
            [{ path: 'tests/test_hang.py', content: `import subprocess, time\ndef test_hang():\n    subprocess.Popen(["sleep", "300", "${marker}"])\n    time.sleep(300)\n` }],
            3_000,
          );
          expect(warmRuns(session)).toBe(5);
          expect(hung.timedOut).toBe(true);
          expect(processesWith(marker)).toEqual([]);
        },
        { maxCpuSeconds: 2 },
      );
    }, 120_000);

    test('cold: the acceptance invocation, a run with other env, a second run without a sync', async () => {
      await withWarm(isolation, async (session) => {
        const files = [CALC, { path: 'tests/test_calc.py', content: 'from calc import add\ndef test_add():\n    assert add(1, 2) == 3\n' }];
        await session.sync([...files, ...PYTHON_PYTEST.acceptance!.configFiles!], { signal: signal() });
        const acceptance = await session.run(
          [...PYTHON_PYTEST.acceptance!.command.map((part) => part.replace('{report}', '.ptc/acceptance.xml')), 'tests/test_calc.py'],
          { timeoutMs: 30_000, signal: signal(), env: PYTHON_PYTEST.acceptance!.env! },
        );
        expect(acceptance.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(0);
        await session.sync(files, { signal: signal() });
        const otherEnv = await session.run(PYTHON_PYTEST.command, { timeoutMs: 30_000, signal: signal(), env: { PYTHONWARNINGS: 'error' } });
        expect(otherEnv.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(0);
        const again = await session.run(PYTHON_PYTEST.command, { timeoutMs: 30_000, signal: signal() });
        expect(again.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(0);
        // Files a warm run leaves beside the workspace are gone by the next sync.
        const escape = await run(session, [{ path: 'tests/test_escape.py', content: 'def test_escape():\n    open("../left-behind.txt", "w").write("x")\n' }]);
        expect(escape.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(1);
        const check = await run(session, [{ path: 'tests/test_check.py', content: 'import os\ndef test_check():\n    assert os.listdir("..") == [os.path.basename(os.getcwd())]\n' }]);
        expect(check.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(2);
      });
    }, 120_000);
  });
}

describe('through the agent: warm for the model\'s own run only, never for the acceptance run', () => {
  test('with the default runner, the model\'s run is warm and the acceptance run (the verdict) is cold', async () => {
    const root = freshRoot();
    const { runner: local } = quietRunner({ isolation: 'auto', workspaceRoot: root });
    const { runner, runs } = recordingRunner(local);
    const agent = new PTCAgent({
      generator: new ScriptedCodeGenerator([
        { files: [{ ...CALC, path: 'calc.py' }, { path: 'tests/test_calc.py', content: 'from calc import add\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' }] },
      ]),
      runner,
      cache: false,
    });
    try {
      const bundle = await agent.execute({
        taskDescription: 'Write add(a, b) in calc.py',
        language: 'python',
        acceptanceTests: [{ path: 'tests/test_acceptance.py', content: 'from calc import add\ndef test_sum():\n    assert add(2, 2) == 4\n' }],
        maxIterations: 1,
        cacheStrategy: 'never',
      });
      expect(bundle.status).toBe('success');
      expect(bundle.testReport?.acceptance?.success).toBe(true);
      const pytestRuns = runs.filter((entry) => entry.argv.includes('pytest'));
      expect(pytestRuns.map((entry) => [entry.argv.includes('--noconftest') ? 'acceptance' : 'model', entry.warm])).toEqual([
        ['model', true],
        ['acceptance', false],
      ]);
    } finally {
      await agent.close();
      rmSync(root, { recursive: true, force: true });
    }
  }, 90_000);
});
