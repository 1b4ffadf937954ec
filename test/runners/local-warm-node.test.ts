import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { SandboxFile, SandboxSession } from '../../src/contracts/sandbox-runner.js';
import { PTCAgent } from '../../src/index.js';
import { ScriptedCodeGenerator } from '../../src/testing/index.js';
import { JAVASCRIPT_NODE_TEST } from '../../src/reports/presets.js';
import type { LocalIsolation, LocalSandboxRunnerOptions } from '../../src/runners/local.js';
import { standbyReporterFlags, WARM_NODE_MARKER, warmNodeTestFile } from '../../src/runners/local/warm-node.js';
import { freshRoot, parentOf, processesWith, quietRunner, recordingRunner, runSuite, signal, SKIP_BWRAP, warmRuns, withOwnRoot } from './local-helpers.js';

const warmRetries = (session: SandboxSession): number => (session as unknown as { warmRetries: number }).warmRetries;

const withWarm = <T>(isolation: LocalIsolation, body: (session: SandboxSession, root: string) => Promise<T>, options: LocalSandboxRunnerOptions = {}): Promise<T> =>
  withOwnRoot('javascript', { isolation, warmNode: true, ...options }, body);

/** The preset's own command for these test files, as the model's run sends it. */
const command = (testFiles: readonly string[]) => [...JAVASCRIPT_NODE_TEST.command, ...testFiles];

async function run(session: SandboxSession, files: SandboxFile[], testFiles: readonly string[] = ['test/calc.test.js'], timeoutMs = 30_000) {
  await session.sync(files, { signal: signal() });
  const result = await session.run(command(testFiles), { timeoutMs, signal: signal() });
  const report = await session.readFile('.ptc/junit.xml', { signal: signal() });
  return { ...result, report };
}

/** What a cold run of `files` gives, from a session without warm runs. */
function coldRun(isolation: LocalIsolation, files: SandboxFile[], testFiles: readonly string[] = ['test/calc.test.js']) {
  return withOwnRoot('javascript', { isolation, warmNode: false }, (session) => run(session, files, testFiles));
}

/**
 * Timings and the session's own directories are the only differences allowed, and one of
 * presentation: the cold parent prints the copy of an error its child sent, whose class shows as
 * `TypeError [Error]`, where node:test in process prints the error itself, `TypeError`.
 */
const normalized = (text: string | undefined) =>
  (text ?? 'NO REPORT')
    .replaceAll(/\b(\w*Error) \[Error\]/g, '$1')
    .replaceAll(/\d+\.\d+ms/g, 'Nms')
    .replaceAll(/duration_ms \d+(\.\d+)?/g, 'duration_ms N')
    .replaceAll(/time="[\d.]+"/g, 'time="N"')
    .replaceAll(/ptc-warm-test-[A-Za-z0-9]+\//g, '')
    .replaceAll(/ptc-workspace-[A-Za-z0-9]+(\/w)?/g, 'WS');

/** The whole of what the model reads of a run: exit code, stdout, stderr, report. */
const seen = (result: { exitCode: number | null; stdout: string; stderr: string; report: string | undefined }) => ({
  exitCode: result.exitCode,
  stdout: normalized(result.stdout),
  stderr: normalized(result.stderr),
  report: normalized(result.report),
});

const PACKAGE: SandboxFile = { path: 'package.json', content: '{ "type": "module" }\n' };
const CALC: SandboxFile = { path: 'src/calc.js', content: 'export let calls = 0;\nexport const add = (a, b) => { calls += 1; return a + b; };\n' };
const testFile = (content: string, path = 'test/calc.test.js'): SandboxFile => ({ path, content });

const PASSING = [PACKAGE, CALC, testFile("import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/calc.js';\ntest('adds', () => assert.equal(add(1, 2), 3));\n")];

describe('warm node runs: pure helpers', () => {
  test('only `<node> --test <the preset reporters> <one file>` with the standby executable is warm', () => {
    const reporters = JAVASCRIPT_NODE_TEST.command.slice(2);
    expect(warmNodeTestFile(['/node', '--test', ...reporters, 'test/a.test.js'], '/node')).toBe('test/a.test.js');
    expect(warmNodeTestFile(['/other', '--test', ...reporters, 'test/a.test.js'], '/node')).toBeUndefined();
    // Several files: each gets its own process cold, which one standby cannot be.
    expect(warmNodeTestFile(['/node', '--test', ...reporters, 'test/a.test.js', 'test/b.test.js'], '/node')).toBeUndefined();
    expect(warmNodeTestFile(['/node', '--test', ...reporters], '/node')).toBeUndefined();
    // The TypeScript preset's loader, other flags, other reporters.
    expect(warmNodeTestFile(['/node', '--import', 'tsx', '--test', ...reporters, 'test/a.test.ts'], '/node')).toBeUndefined();
    expect(warmNodeTestFile(['/node', '--test', '--test-only', ...reporters, 'test/a.test.js'], '/node')).toBeUndefined();
    expect(warmNodeTestFile(['/node', '--test', ...reporters.slice(0, 2), 'test/a.test.js'], '/node')).toBeUndefined();
    expect(warmNodeTestFile(['/node', '--test', ...reporters, '--test-name-pattern=x'], '/node')).toBeUndefined();
  });

  test('the standby writes the report where the cold run does, as an absolute path', () => {
    expect(standbyReporterFlags('/ws')).toEqual(['--test-reporter=junit', '--test-reporter-destination=/ws/.ptc/junit.xml', '--test-reporter=spec', '--test-reporter-destination=stdout']);
  });
});

describe('warmNode is on by default, and can be turned off', () => {
  test('a default runner keeps a standby and runs the model\'s run warm; close takes the next standby down', async () => {
    const root = await withOwnRoot('javascript', { isolation: 'none' }, async (session, root) => {
      const result = await run(session, PASSING);
      expect(result.exitCode).toBe(0);
      expect(warmRuns(session)).toBe(1);
      return root;
    });
    expect(processesWith(WARM_NODE_MARKER, root)).toEqual([]);
  }, 60_000);

  test('warmNode: false starts no standby and runs cold', async () => {
    await withOwnRoot('javascript', { isolation: 'none', warmNode: false }, async (session, root) => {
      expect((await run(session, PASSING)).exitCode).toBe(0);
      expect(warmRuns(session)).toBe(0);
      expect(processesWith(WARM_NODE_MARKER, root)).toEqual([]);
    });
  }, 60_000);
});

for (const isolation of ['none', 'bwrap'] as const) {
  const skip = isolation === 'bwrap' && SKIP_BWRAP;
  describe.skipIf(skip)(`warm node runs, isolation ${isolation}${skip ? ' (SKIPPED: bwrap missing)' : ''}`, () => {
    test('what the tests see and what the model reads equal a cold run (timings aside), passing and failing', async () => {
      const failing = [
        PACKAGE,
        CALC,
        testFile(
          [
            "import { test, describe } from 'node:test';",
            "import assert from 'node:assert/strict';",
            "import { add, calls } from '../src/calc.js';",
            // What a cold per-file child sees: argv, exec flags, node:test's context, directory, globals, main module.
            'console.log(JSON.stringify({ argv: process.argv, execArgv: process.execArgv, context: process.env.NODE_TEST_CONTEXT, cwd: process.cwd() }));',
            'console.log(JSON.stringify({ require: typeof require, module: typeof module, globals: Object.getOwnPropertyNames(globalThis).sort(), keys: Object.keys(process.env).sort() }));',
            "console.error('to stderr at load');",
            "test('adds', () => assert.equal(add(1, 2), 3));",
            "describe('group', () => {",
            "  test('fails', () => { console.log('inside', calls); console.error('error inside'); assert.equal(add(1, 2), 4); });",
            "  test('throws', () => { throw new TypeError('boom'); });",
            '});',
            "test('async fails', async () => { await new Promise((resolve) => setTimeout(resolve, 5)); assert.ok(false, 'not ok'); });",
            "test.skip('skipped', () => {});",
            "test.todo('later');",
          ].join('\n'),
        ),
      ];
      const coldFailing = await coldRun(isolation, failing);
      const coldPassing = await coldRun(isolation, PASSING);
      await withWarm(isolation, async (session) => {
        const warm = await run(session, failing);
        expect(warmRuns(session)).toBe(1);
        expect(warm.exitCode).toBe(1);
        expect(seen(warm)).toEqual(seen(coldFailing));
        expect(warm.stdout).toContain('"context":"child-v8"');
        expect(warm.stdout).toContain('"require":"undefined"');
        // The failing tests' summary says where each is, as the cold parent does.
        expect(warm.stdout).toContain('test at test/calc.test.js:9:3');
        expect(warm.report).toContain('tests="2" failures="2"');

        const passing = await run(session, PASSING);
        expect(warmRuns(session)).toBe(2);
        expect(passing.exitCode).toBe(0);
        expect(seen(passing)).toEqual(seen(coldPassing));
      });
    }, 120_000);

    test('runs a cold run reports differently are cold, with the cold result: several files, CommonJS, no test, a load error, process.exit', async () => {
      const cases: Array<{ name: string; files: SandboxFile[]; testFiles?: string[]; warm: 'never' | 'retried' }> = [
        {
          // Each file in its own process, cold: module state is not shared (calls is 1 in both).
          name: 'two files',
          files: [
            PACKAGE,
            CALC,
            testFile("import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add, calls } from '../src/calc.js';\ntest('a', () => { add(1, 1); assert.equal(calls, 1); });\n", 'test/a.test.js'),
            testFile("import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add, calls } from '../src/calc.js';\ntest('b', () => { add(1, 1); assert.equal(calls, 1); });\n", 'test/b.test.js'),
          ],
          testFiles: ['test/a.test.js', 'test/b.test.js'],
          warm: 'never',
        },
        {
          // A CommonJS test file is node's main module cold (require.main === module).
          name: 'CommonJS',
          files: [{ path: 'package.json', content: '{}\n' }, testFile("const { test } = require('node:test');\nconst assert = require('node:assert');\ntest('main', () => assert.equal(require.main, module));\n")],
          warm: 'never',
        },
        {
          // Cold, the parent reports the file itself as a passing case; a report written by the tests is no report.
          name: 'no test, and a report of its own',
          files: [
            PACKAGE,
            testFile(
              "import { writeFileSync } from 'node:fs';\nwriteFileSync('.ptc/junit.xml', '<testsuites><testcase name=\"forged\"/></testsuites>');\nconsole.log('nothing to test');\n",
            ),
          ],
          warm: 'retried',
        },
        { name: 'syntax error', files: [PACKAGE, testFile("import { test } from 'node:test';\ntest('x', () => {\n")], warm: 'retried' },
        {
          name: 'missing import after a passing test',
          files: [PACKAGE, testFile("import { test } from 'node:test';\ntest('first', () => {});\nawait import('./missing.js');\n")],
          warm: 'retried',
        },
        {
          name: 'process.exit in a test',
          files: [PACKAGE, testFile("import { test } from 'node:test';\ntest('exits', () => { process.exit(0); });\ntest('never runs', () => {});\n")],
          warm: 'retried',
        },
        {
          name: 'uncaught error before any test',
          files: [PACKAGE, testFile("import { test } from 'node:test';\nsetTimeout(() => { throw new Error('late'); }, 1);\nawait new Promise((resolve) => setTimeout(resolve, 50));\ntest('after', () => {});\n")],
          warm: 'retried',
        },
        {
          name: 'exit code set by a test',
          files: [PACKAGE, testFile("import { test } from 'node:test';\ntest('passes', () => { process.exitCode = 3; });\n")],
          warm: 'retried',
        },
      ];
      const colds: Array<Awaited<ReturnType<typeof coldRun>>> = [];
      for (const entry of cases) colds.push(await coldRun(isolation, entry.files, entry.testFiles));
      await withWarm(isolation, async (session) => {
        for (const [index, entry] of cases.entries()) {
          const retriesBefore = warmRetries(session);
          const result = await run(session, entry.files, entry.testFiles);
          expect(seen(result), entry.name).toEqual(seen(colds[index]!));
          expect(warmRuns(session), entry.name).toBe(0);
          expect(warmRetries(session) - retriesBefore, entry.name).toBe(entry.warm === 'retried' ? 1 : 0);
        }
        // The next plain run is warm again.
        expect((await run(session, PASSING)).exitCode).toBe(0);
        expect(warmRuns(session)).toBe(1);
      });
    }, 180_000);

    test('the report lands where the cold run writes it, even when the tests change directory first', async () => {
      const files = [
        PACKAGE,
        testFile("import { test } from 'node:test';\nimport { mkdirSync } from 'node:fs';\nmkdirSync('elsewhere/.ptc', { recursive: true });\nprocess.chdir('elsewhere');\ntest('moved', () => {});\n"),
      ];
      const cold = await coldRun(isolation, files);
      expect(cold.report).toContain('name="moved"');
      await withWarm(isolation, async (session) => {
        const warm = await run(session, files);
        expect(warmRuns(session)).toBe(1);
        expect(seen(warm)).toEqual(seen(cold));
        expect(await session.readFile('elsewhere/.ptc/junit.xml', { signal: signal() })).toBeUndefined();
      });
    }, 90_000);

    test('every run is a fresh process: module state and random state are never carried over', async () => {
      const files = [
        PACKAGE,
        CALC,
        testFile(
          "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { writeFileSync } from 'node:fs';\nimport { add, calls } from '../src/calc.js';\ntest('fresh', () => { assert.equal(calls, 0); add(1, 1); globalThis.leftover ??= 0; globalThis.leftover += 1; assert.equal(globalThis.leftover, 1); writeFileSync('random.txt', String(Math.random())); });\n",
        ),
      ];
      await withWarm(isolation, async (session) => {
        const values = new Set<string>();
        for (let index = 0; index < 3; index += 1) {
          const result = await run(session, files);
          expect(result.exitCode, result.stdout).toBe(0);
          values.add((await session.readFile('random.txt', { signal: signal() }))!);
        }
        expect(warmRuns(session)).toBe(3);
        expect(values.size).toBe(3);
      });
    }, 90_000);

    test('the control channel is closed before the tests load: no socket beyond stdio, no socket or FIFO anywhere near', async () => {
      const files = [
        PACKAGE,
        testFile(
          [
            "import { test } from 'node:test';",
            "import { readdirSync, readlinkSync, lstatSync, writeFileSync } from 'node:fs';",
            "import { join, dirname } from 'node:path';",
            'const sockets = [];',
            "for (const fd of readdirSync('/proc/self/fd')) { try { if (readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:') && Number(fd) > 2) sockets.push(fd); } catch {} }",
            'const special = [];',
            'const walk = (directory) => { for (const name of readdirSync(directory)) { const path = join(directory, name); const stat = lstatSync(path); if (stat.isSocket() || stat.isFIFO()) special.push(name); else if (stat.isDirectory()) walk(path); } };',
            'walk(dirname(process.cwd()));',
            "test('fds', () => writeFileSync('fds.txt', JSON.stringify({ sockets, special })));",
          ].join('\n'),
        ),
      ];
      await withWarm(isolation, async (session) => {
        expect((await run(session, files)).exitCode).toBe(0);
        expect(warmRuns(session)).toBe(1);
        expect(JSON.parse((await session.readFile('fds.txt', { signal: signal() }))!)).toEqual({ sockets: [], special: [] });
      });
    }, 90_000);

    test('a killed or stopped standby means a cold run with the right report', async () => {
      const failing = [PACKAGE, CALC, testFile("import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/calc.js';\ntest('adds', () => assert.equal(add(1, 2), 4));\n")];
      const cases = (report: Awaited<ReturnType<typeof runSuite>>) => report.cases.map((testCase) => [testCase.name, testCase.status]);
      await withWarm(isolation, async (session, root) => {
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        const standbys = processesWith(WARM_NODE_MARKER, root);
        expect(standbys.length).toBeGreaterThan(0);
        for (const pid of standbys) process.kill(pid, 'SIGKILL');
        expect(cases(await runSuite(session, JAVASCRIPT_NODE_TEST, failing))).toEqual([['adds', 'failed']]);
        expect(warmRuns(session)).toBe(0);

        await new Promise((resolve) => setTimeout(resolve, 1_500));
        const stopped = processesWith(WARM_NODE_MARKER, root);
        expect(stopped.length).toBeGreaterThan(0);
        for (const pid of stopped) process.kill(pid, 'SIGSTOP');
        expect(cases(await runSuite(session, JAVASCRIPT_NODE_TEST, failing))).toEqual([['adds', 'failed']]);
        expect(warmRuns(session)).toBe(0);
        for (const pid of stopped) expect(processesWith(WARM_NODE_MARKER, root)).not.toContain(pid);

        expect(cases(await runSuite(session, JAVASCRIPT_NODE_TEST, failing))).toEqual([['adds', 'failed']]);
        expect(warmRuns(session)).toBe(1);
      });
    }, 120_000);

    test('a warm run killed midway from outside (SIGKILL) is re-run cold from the synced files', async () => {
      // Fails if run twice on the same workspace: the cold re-run must start from the synced files.
      const files = [
        PACKAGE,
        testFile(
          "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { existsSync, writeFileSync } from 'node:fs';\ntest('once', async () => {\n  assert.ok(!existsSync('ran.txt'));\n  writeFileSync('ran.txt', 'ran');\n  await new Promise((resolve) => setTimeout(resolve, 3_000));\n});\n",
        ),
      ];
      await withWarm(isolation, async (session, root) => {
        await session.sync(files, { signal: signal() });
        const running = session.run(command(['test/calc.test.js']), { timeoutMs: 60_000, signal: signal() });
        const deadline = Date.now() + 30_000;
        let killed = 0;
        while (killed === 0 && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          if (!execFileSync('find', [root, '-name', 'ran.txt'], { encoding: 'utf8' }).trim()) continue;
          for (const pid of processesWith(WARM_NODE_MARKER, root)) {
            if (parentOf(pid) === process.pid) {
              process.kill(pid, 'SIGKILL');
              killed += 1;
            }
          }
        }
        expect(killed).toBe(1);
        const result = await running;
        expect(result.exitCode, result.stdout + result.stderr).toBe(0);
        expect(result.stdout).toContain('ℹ pass 1');
        expect(warmRuns(session)).toBe(0);
        expect(warmRetries(session)).toBe(1);
        expect((await run(session, files)).exitCode).toBe(0);
        expect(warmRuns(session)).toBe(1);
      });
    }, 120_000);

    test('limits apply per run: CPU seconds do not add up across runs, and a timeout kills the run and what it started', async () => {
      const burn = (seconds: number) => [
        PACKAGE,
        testFile(`import { test } from 'node:test';\nconst used = () => { const { user, system } = process.cpuUsage(); return user + system; };\ntest('burn', () => { const end = used() + ${seconds * 1e6}; while (used() < end) {} });\n`),
      ];
      await withWarm(
        isolation,
        async (session) => {
          // 3 × 1.2 s of CPU under a 2 s limit: fine only if each run gets its own.
          for (let index = 0; index < 3; index += 1) expect((await run(session, burn(1.2))).exitCode).toBe(0);
          expect(warmRuns(session)).toBe(3);
          const over = await run(session, burn(5));
          expect(over.exitCode).not.toBe(0);
          expect(over.exitCode).not.toBe(1);

          const marker = `ptc-warm-node-orphan-${Date.now()}`;
          const hung = await run(
            session,
            [PACKAGE, testFile(`import { test } from 'node:test';\nimport { spawn } from 'node:child_process';\ntest('hang', async () => { spawn('sleep', ['300', '${marker}']); await new Promise(() => setInterval(() => {}, 1000)); });\n`)],
            ['test/calc.test.js'],
            3_000,
          );
          expect(hung.timedOut).toBe(true);
          expect(processesWith(marker)).toEqual([]);
        },
        { maxCpuSeconds: 2 },
      );
    }, 120_000);

    test('cold: the acceptance invocation, a run with other env, a second run without a sync', async () => {
      await withWarm(isolation, async (session) => {
        await session.sync(PASSING, { signal: signal() });
        const acceptance = await session.run(
          [...JAVASCRIPT_NODE_TEST.acceptance!.command.map((part) => part.replace('{report}', '.ptc/acceptance.xml')), 'test/calc.test.js'],
          { timeoutMs: 30_000, signal: signal(), env: JAVASCRIPT_NODE_TEST.acceptance!.env! },
        );
        expect(acceptance.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(0);
        await session.sync(PASSING, { signal: signal() });
        const otherEnv = await session.run(command(['test/calc.test.js']), { timeoutMs: 30_000, signal: signal(), env: { NODE_OPTIONS: '--no-warnings' } });
        expect(otherEnv.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(0);
        const again = await session.run(command(['test/calc.test.js']), { timeoutMs: 30_000, signal: signal() });
        expect(again.exitCode).toBe(0);
        expect(warmRuns(session)).toBe(0);
        expect((await run(session, PASSING)).exitCode).toBe(0);
        expect(warmRuns(session)).toBe(1);
      });
    }, 120_000);
  });
}

describe('through the agent: warm for the model\'s own run only, never for the acceptance run', () => {
  test('with the default runner, the model\'s one-file run is warm and the acceptance run (the verdict) is cold', async () => {
    const root = freshRoot();
    const { runner: local } = quietRunner({ isolation: 'auto', workspaceRoot: root });
    const { runner, runs } = recordingRunner(local);
    // The model writes the code only: its run is the acceptance file alone, one file.
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator([{ files: [PACKAGE, CALC] }]), runner, cache: false });
    try {
      const bundle = await agent.execute({
        taskDescription: 'Write add(a, b) in src/calc.js',
        language: 'javascript',
        acceptanceTests: [{ path: 'test/acceptance.test.js', content: "import { test } from 'node:test';\nimport assert from 'node:assert/strict';\nimport { add } from '../src/calc.js';\ntest('sum', () => assert.equal(add(2, 2), 4));\n" }],
        maxIterations: 1,
        cacheStrategy: 'never',
      });
      expect(bundle.status).toBe('success');
      expect(bundle.testReport?.acceptance?.success).toBe(true);
      const nodeRuns = runs.filter((entry) => entry.argv.includes('--test'));
      expect(nodeRuns.map((entry) => [entry.argv.some((part) => part.includes('.ptc/acceptance/')) ? 'acceptance' : 'model', entry.warm])).toEqual([
        ['model', true],
        ['acceptance', false],
      ]);
    } finally {
      await agent.close();
      rmSync(root, { recursive: true, force: true });
    }
  }, 90_000);
});
