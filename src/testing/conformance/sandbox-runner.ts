import { strict as assert } from 'node:assert';
import type { SandboxRunner, SandboxSession } from '../../contracts/sandbox-runner.js';
import { isPTCError } from '../../errors.js';
import type { Language } from '../../plan.js';
import type { ConformanceTestFunction } from './types.js';

export interface SandboxRunnerConformanceOptions {
  /** Language passed to `open`. @default 'python' */
  language?: Language;
  /**
   * Whether `run` executes real commands (`sh -c …`). Fakes that script their results set this
   * to false and skip the command cases. @default true
   */
  executesCommands?: boolean;
  /** Per-case timeout handed to `test`, in ms. @default 60000 */
  caseTimeoutMs?: number;
  /** Prefix of every case name. @default 'SandboxRunner conformance' */
  name?: string;
  /**
   * Checks `RunOptions.onOutput` (needs `executesCommands`): `'live'` for a runner that streams
   * (output written a second apart arrives in separate calls), `'at-end'` for one that delivers
   * when the command ends. Both must deliver exactly the result's output, nothing after `run`
   * settles, and survive a listener that throws. @default undefined (not checked)
   */
  outputCallback?: 'live' | 'at-end';
}

/**
 * Registers the cases every `SandboxRunner` must pass (keyv test-suite style): sessions open and
 * close idempotently, `sync` leaves exactly the given files (nothing a command made survives) and
 * paths stay inside the workspace, commands report exit codes,
 * output and timeouts, the host environment stays out, and aborts are honoured.
 *
 * ```ts
 * import { test } from 'vitest';
 * import { sandboxRunnerConformance } from 'ptc-agent/testing';
 * sandboxRunnerConformance(test, () => new MyRunner());
 * ```
 */
export function sandboxRunnerConformance(
  test: ConformanceTestFunction,
  createRunner: () => SandboxRunner | Promise<SandboxRunner>,
  options: SandboxRunnerConformanceOptions = {},
): void {
  const language = options.language ?? 'python';
  const timeoutMs = options.caseTimeoutMs ?? 60_000;
  const prefix = options.name ?? 'SandboxRunner conformance';
  const executes = options.executesCommands ?? true;
  const signal = () => new AbortController().signal;

  const withSession = async (body: (session: SandboxSession, runner: SandboxRunner) => Promise<void>) => {
    const runner = await createRunner();
    const session = await runner.open({ executionId: `conformance-${Date.now()}`, language, dependencies: [], env: {}, signal: signal() });
    try {
      await body(session, runner);
    } finally {
      await session.close();
    }
  };

  test(`${prefix}: has a stable id and opens a session with an id`, async () => {
    const runner = await createRunner();
    assert.equal(typeof runner.id, 'string');
    assert.ok(runner.id.length > 0);
    await withSession(async (session) => {
      assert.equal(typeof session.id, 'string');
      assert.ok(session.id.length > 0);
    });
  }, timeoutMs);

  test(`${prefix}: close is idempotent and never throws`, async () => {
    const runner = await createRunner();
    const session = await runner.open({ executionId: 'conformance-close', language, dependencies: [], env: {}, signal: signal() });
    await session.close();
    await session.close();
  }, timeoutMs);

  test(`${prefix}: sync round-trips files, nested directories included`, async () => {
    await withSession(async (session) => {
      const content = 'print("héllo")\n# ünïcode ✓\n';
      await session.sync([{ path: 'pkg/deep/module.py', content }, { path: 'top.txt', content: '' }], { signal: signal() });
      assert.equal(await session.readFile('pkg/deep/module.py', { signal: signal() }), content);
      assert.equal(await session.readFile('top.txt', { signal: signal() }), '');
    });
  }, timeoutMs);

  test(`${prefix}: readFile of a missing file is undefined`, async () => {
    await withSession(async (session) => {
      assert.equal(await session.readFile('no/such/file.txt', { signal: signal() }), undefined);
    });
  }, timeoutMs);

  test(`${prefix}: sync leaves exactly the given files: earlier ones are gone, changed ones replaced`, async () => {
    await withSession(async (session) => {
      await session.sync([{ path: 'a/b.txt', content: 'x' }, { path: 'keep.txt', content: 'one' }], { signal: signal() });
      await session.sync([{ path: 'keep.txt', content: 'two' }], { signal: signal() });
      assert.equal(await session.readFile('a/b.txt', { signal: signal() }), undefined);
      assert.equal(await session.readFile('keep.txt', { signal: signal() }), 'two');
      await session.sync([], { signal: signal() });
      assert.equal(await session.readFile('keep.txt', { signal: signal() }), undefined);
    });
  }, timeoutMs);

  test(`${prefix}: a sync with an unsafe path changes nothing`, async () => {
    await withSession(async (session) => {
      await session.sync([{ path: 'before.txt', content: 'kept' }], { signal: signal() });
      await assert.rejects(
        session.sync([{ path: 'fine.txt', content: 'x' }, { path: '../escape.txt', content: 'x' }], { signal: signal() }),
        (error: unknown) => isPTCError(error) && error.code === 'PATH_UNSAFE',
      );
      assert.equal(await session.readFile('before.txt', { signal: signal() }), 'kept');
      assert.equal(await session.readFile('fine.txt', { signal: signal() }), undefined);
    });
  }, timeoutMs);

  test(`${prefix}: paths that escape the workspace are refused`, async () => {
    await withSession(async (session) => {
      for (const path of ['../escape.txt', '/etc/ptc-escape', 'a/../../escape.txt', 'nul\u0000byte']) {
        await assert.rejects(
          session.sync([{ path, content: 'x' }], { signal: signal() }),
          (error: unknown) => isPTCError(error) && error.code === 'PATH_UNSAFE',
          `sync accepted ${JSON.stringify(path)}`,
        );
        await assert.rejects(
          session.readFile(path, { signal: signal() }),
          (error: unknown) => isPTCError(error) && error.code === 'PATH_UNSAFE',
          `readFile accepted ${JSON.stringify(path)}`,
        );
      }
    });
  }, timeoutMs);

  test(`${prefix}: a closed session refuses work`, async () => {
    const runner = await createRunner();
    const session = await runner.open({ executionId: 'conformance-closed', language, dependencies: [], env: {}, signal: signal() });
    await session.close();
    await assert.rejects(session.sync([{ path: 'x.txt', content: 'x' }], { signal: signal() }), (error: unknown) => isPTCError(error));
  }, timeoutMs);

  test(`${prefix}: open with an aborted signal rejects`, async () => {
    const runner = await createRunner();
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(
      runner.open({ executionId: 'conformance-aborted', language, dependencies: [], env: {}, signal: controller.signal }),
      (error: unknown) => isPTCError(error) && (error.code === 'ABORTED' || error.code === 'TIMEOUT'),
    );
  }, timeoutMs);

  if (!executes) return;

  test(`${prefix}: run reports exit code, stdout and stderr apart`, async () => {
    await withSession(async (session) => {
      const result = await session.run(['sh', '-c', 'echo to-out; echo to-err >&2; exit 3'], { timeoutMs: 20_000, signal: signal() });
      assert.equal(result.exitCode, 3);
      assert.equal(result.timedOut, false);
      assert.match(result.stdout, /to-out/);
      assert.doesNotMatch(result.stdout, /to-err/);
      assert.match(result.stderr, /to-err/);
      assert.equal(result.stdoutTruncated, false);
    });
  }, timeoutMs);

  test(`${prefix}: a session opened with prepareTestRuns: false works as any other`, async () => {
    const runner = await createRunner();
    const session = await runner.open({ executionId: 'conformance-unprepared', language, dependencies: [], env: {}, signal: signal(), prepareTestRuns: false });
    try {
      await session.sync([{ path: 'data.txt', content: 'unprepared' }], { signal: signal() });
      const result = await session.run(['sh', '-c', 'cat data.txt'], { timeoutMs: 20_000, signal: signal() });
      assert.equal(result.exitCode, 0);
      assert.match(result.stdout, /unprepared/);
    } finally {
      await session.close();
    }
  }, timeoutMs);

  test(`${prefix}: commands run in the workspace and see the synced files`, async () => {
    await withSession(async (session) => {
      await session.sync([{ path: 'dir/data.txt', content: 'payload-42' }], { signal: signal() });
      const result = await session.run(['sh', '-c', 'cat dir/data.txt; echo done > out.txt'], { timeoutMs: 20_000, signal: signal() });
      assert.equal(result.exitCode, 0);
      assert.match(result.stdout, /payload-42/);
      assert.equal((await session.readFile('out.txt', { signal: signal() }))?.trim(), 'done');
    });
  }, timeoutMs);

  test(`${prefix}: nothing a command created survives the next sync (files, directories, caches)`, async () => {
    await withSession(async (session) => {
      await session.sync([{ path: 'code.txt', content: 'v1' }], { signal: signal() });
      const made = await session.run(
        ['sh', '-c', 'echo x > created.txt; mkdir -p __pycache__ cache/deep && echo y > cache/deep/z && echo p > __pycache__/m.pyc; echo v0 > code.txt; chmod 000 cache'],
        { timeoutMs: 20_000, signal: signal() },
      );
      assert.equal(made.exitCode, 0, made.stderr);
      await session.sync([{ path: 'code.txt', content: 'v2' }], { signal: signal() });
      for (const path of ['created.txt', '__pycache__/m.pyc']) assert.equal(await session.readFile(path, { signal: signal() }), undefined, `${path} survived a sync`);
      const listed = await session.run(['sh', '-c', 'ls -A; cat code.txt'], { timeoutMs: 20_000, signal: signal() });
      assert.doesNotMatch(listed.stdout, /created\.txt|__pycache__|^cache$/m);
      assert.match(listed.stdout, /v2/);
    });
  }, timeoutMs);

  test(`${prefix}: a command past its timeout is killed and reported as timed out`, async () => {
    await withSession(async (session) => {
      const result = await session.run(['sh', '-c', 'sleep 60'], { timeoutMs: 1_000, signal: signal() });
      assert.equal(result.timedOut, true);
      assert.notEqual(result.exitCode, 0);
    });
  }, timeoutMs);

  test(`${prefix}: the environment is explicit: per-run variables arrive, host variables do not`, async () => {
    const secretName = 'PTC_CONFORMANCE_HOST_SECRET';
    const previous = process.env[secretName];
    process.env[secretName] = 'host-secret-value-must-not-leak';
    try {
      await withSession(async (session) => {
        const result = await session.run(['sh', '-c', `echo "run=$PTC_RUN_VALUE"; echo "host=$${secretName}"`], {
          timeoutMs: 20_000,
          signal: signal(),
          env: { PTC_RUN_VALUE: 'given' },
        });
        assert.match(result.stdout, /run=given/);
        assert.doesNotMatch(result.stdout, /host-secret-value-must-not-leak/);
      });
    } finally {
      if (previous === undefined) delete process.env[secretName];
      else process.env[secretName] = previous;
    }
  }, timeoutMs);

  if (options.outputCallback) {
    const live = options.outputCallback === 'live';
    test(`${prefix}: onOutput hears exactly the command's output${live ? ', as it arrives' : ''}, and nothing after run settles`, async () => {
      await withSession(async (session) => {
        const heard: Array<{ stream: string; chunk: string; settled: boolean }> = [];
        let settled = false;
        const result = await session.run(['sh', '-c', 'echo first; sleep 1; echo second >&2; sleep 1; echo third'], {
          timeoutMs: 20_000,
          signal: signal(),
          onOutput: (stream, chunk) => heard.push({ stream, chunk, settled }),
        });
        settled = true;
        // Anything still buffered somewhere would show up now.
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(result.exitCode, 0, result.stderr);
        for (const call of heard) {
          assert.ok(call.stream === 'stdout' || call.stream === 'stderr', `unknown stream ${call.stream}`);
          assert.equal(typeof call.chunk, 'string');
          assert.equal(call.settled, false, 'onOutput was called after run settled');
        }
        const joined = (stream: string) => heard.filter((call) => call.stream === stream).map((call) => call.chunk).join('');
        assert.equal(joined('stdout'), result.stdout);
        assert.equal(joined('stderr'), result.stderr);
        if (live) {
          const stdoutCalls = heard.filter((call) => call.stream === 'stdout');
          assert.ok(stdoutCalls.length >= 2, 'output written a second apart arrived in one call: the runner does not stream');
          assert.doesNotMatch(stdoutCalls[0]!.chunk, /third/);
        }
      });
    }, timeoutMs);

    test(`${prefix}: a listener that throws costs its chunks, not the run`, async () => {
      await withSession(async (session) => {
        const result = await session.run(['sh', '-c', 'echo out; echo err >&2; exit 4'], {
          timeoutMs: 20_000,
          signal: signal(),
          onOutput: () => {
            throw new Error('listener failure');
          },
        });
        assert.equal(result.exitCode, 4);
        assert.match(result.stdout, /out/);
      });
    }, timeoutMs);
  }

  test(`${prefix}: an aborted run settles promptly and the session still closes`, async () => {
    await withSession(async (session) => {
      const controller = new AbortController();
      const pending = session.run(['sh', '-c', 'sleep 60'], { timeoutMs: 50_000, signal: controller.signal });
      setTimeout(() => controller.abort(), 300);
      const outcome = await pending.then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      );
      if ('error' in outcome) {
        assert.ok(isPTCError(outcome.error), 'an aborted run rejects with a PTCError');
      } else {
        assert.notEqual(outcome.result.exitCode, 0, 'an aborted run that resolves must not look successful');
      }
    });
  }, timeoutMs);
}
