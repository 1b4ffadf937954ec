import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { isPTCError } from '../../src/errors.js';
import { PYTHON_PYTEST } from '../../src/reports/presets.js';
import { runTests } from '../../src/reports/run-tests.js';
import { DaytonaSandboxRunner, DAYTONA_EXECUTION_LABEL, DAYTONA_MARKER_LABEL } from '../../src/runners/daytona.js';
import { sandboxRunnerConformance } from '../../src/testing/conformance/sandbox-runner.js';
import { clientFor, FakeDaytonaServer, openSpec, runnerFor, signal } from '../fakes/daytona-server.js';

let fake: FakeDaytonaServer;
let runner: DaytonaSandboxRunner;

beforeAll(async () => {
  fake = await FakeDaytonaServer.start();
  runner = runnerFor(fake);
});

afterAll(async () => {
  await runner?.dispose();
  const leaked = fake?.liveSandboxes() ?? [];
  await fake?.close();
  expect(leaked).toEqual([]);
});

describe('DaytonaSandboxRunner against the fake Daytona server', () => {
  sandboxRunnerConformance(test, () => runner, { caseTimeoutMs: 30_000, name: 'Daytona conformance', outputCallback: 'at-end' });

  test('runs real pytest through the shared preset and JUnit parser, one sandbox for every iteration', async () => {
    fake.reset();
    const session = await runner.open(openSpec());
    try {
      const buggy = { path: 'calc.py', content: 'def add(a, b):\n    return a - b\n' };
      const tests = { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_zero():\n    assert add(0, 0) == 0\n' };
      await session.sync([buggy, tests], { signal: signal() });
      const red = await runTests(session, PYTHON_PYTEST, { timeoutMs: 30_000, signal: signal(), testFiles: [tests.path] });
      expect(red.success).toBe(false);
      expect(red.failed).toBe(1);
      expect(red.passed).toBe(1);
      expect(red.cases.find((testCase) => testCase.status === 'failed')?.message).toMatch(/assert -1 == 3/);

      await session.sync([{ path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' }, tests], { signal: signal() });
      const green = await runTests(session, PYTHON_PYTEST, { timeoutMs: 30_000, signal: signal(), testFiles: [tests.path] });
      expect(green.success).toBe(true);
      expect(green.passed).toBe(2);
      expect(green.exitCode).toBe(0);
    } finally {
      await session.close();
    }
    // Per iteration: one upload, one command (the sync's swap rides along), one download.
    expect(fake.count('create')).toBe(1);
    expect(fake.count('delete')).toBe(1);
    expect(fake.count('upload')).toBe(2);
    expect(fake.count('execute')).toBe(2);
    expect(fake.count('download')).toBe(2);
    expect(fake.calls).toHaveLength(8);
  }, 60_000);

  test('a stale report is removed before the next run: no tests collected is never green', async () => {
    const session = await runner.open(openSpec());
    try {
      await session.sync([{ path: 'tests/test_ok.py', content: 'def test_ok():\n    assert True\n' }], { signal: signal() });
      expect((await runTests(session, PYTHON_PYTEST, { timeoutMs: 30_000, signal: signal(), testFiles: [] })).success).toBe(true);
      await session.sync([{ path: 'tests/test_ok.py', content: '# no tests any more\n' }], { signal: signal() });
      const report = await runTests(session, PYTHON_PYTEST, { timeoutMs: 30_000, signal: signal(), testFiles: [] });
      expect(report.success).toBe(false);
      expect(report.exitCode).toBe(5);
    } finally {
      await session.close();
    }
  }, 60_000);

  test('sync takes effect for readFile at once and for commands before they run, in one upload', async () => {
    fake.reset();
    const session = await runner.open(openSpec());
    try {
      await session.sync([{ path: 'gone.txt', content: 'x' }, { path: 'kept.txt', content: 'y' }], { signal: signal() });
      await session.run(['sh', '-c', 'mkdir -p made/deep && echo made > made/deep/file && echo z > kept.txt'], { timeoutMs: 10_000, signal: signal() });
      await session.sync([{ path: 'kept.txt', content: 'y' }], { signal: signal() });
      expect(await session.readFile('gone.txt', { signal: signal() })).toBeUndefined();
      expect(await session.readFile('kept.txt', { signal: signal() })).toBe('y');
      const listing = await session.run(['sh', '-c', 'ls -A; cat kept.txt'], { timeoutMs: 10_000, signal: signal() });
      expect(listing.stdout.split('\n')).toEqual(['kept.txt', 'y']);
      expect(await session.readFile('kept.txt', { signal: signal() })).toBe('y');
    } finally {
      await session.close();
    }
    // Each sync is one upload; the swap rides on the next command.
    expect(fake.count('upload')).toBe(2);
    expect(fake.count('execute')).toBe(2);
  }, 30_000);

  test('two syncs before a command: the second one wins and no staging directory is left', async () => {
    const session = await runner.open(openSpec());
    try {
      await session.sync([{ path: 'first.txt', content: '1' }], { signal: signal() });
      await session.sync([{ path: 'second.txt', content: '2' }], { signal: signal() });
      expect(await session.readFile('first.txt', { signal: signal() })).toBeUndefined();
      // The output directory holds this command's own capture files (proof the path is right) and no stage.
      const listing = await session.run(['sh', '-c', 'ls -A; ls -A ../.ptc-agent-output | grep -c "^sync-"; ls -A ../.ptc-agent-output | grep -c "stdout$"'], { timeoutMs: 10_000, signal: signal() });
      const [workspace, stages, captures] = listing.stdout.trim().split('\n');
      expect(workspace).toBe('second.txt');
      expect(stages).toBe('0');
      expect(Number(captures)).toBeGreaterThan(0);
    } finally {
      await session.close();
    }
  }, 30_000);

  test('argv reaches the command verbatim: quotes, spaces, $ and globs are not interpreted', async () => {
    const session = await runner.open(openSpec());
    try {
      const words = [`it's`, 'two words', '$HOME', '*', '"dq"', 'back\\slash', 'new\nline', ''];
      const result = await session.run(['python3', '-c', 'import json, sys; print(json.dumps(sys.argv[1:]))', ...words], { timeoutMs: 10_000, signal: signal() });
      expect(result.exitCode).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual(words);
      const missing = await session.run(['no-such-command-ptc'], { timeoutMs: 10_000, signal: signal() });
      expect(missing.exitCode).toBe(127);
      expect(missing.stderr).toMatch(/not found/);
    } finally {
      await session.close();
    }
  }, 30_000);

  test('a command line longer than one exec argument allows runs from an uploaded script file', async () => {
    fake.reset();
    const session = await runner.open(openSpec());
    try {
      // 250 words of 1,000 chars: ~250 KB, past Linux's 128 KiB limit on one argument (MAX_ARG_STRLEN).
      const words = Array.from({ length: 250 }, (_, index) => `${String(index).padStart(3, '0')}${"x'".repeat(498)}y`);
      const result = await session.run(['sh', '-c', 'echo "$#"; printf "%s\\n" "$1" | wc -c; printf "%s" "${250}" | head -c 3', 'sh', ...words], { timeoutMs: 10_000, signal: signal() });
      expect(result).toMatchObject({ exitCode: 0, timedOut: false, stderr: '' });
      expect(result.stdout.split('\n').map((line) => line.trim())).toEqual(['250', '1001', '249']);
      const failing = await session.run(['sh', '-c', 'exit 3', 'sh', ...words], { timeoutMs: 10_000, signal: signal() });
      expect(failing.exitCode).toBe(3);
      // Short commands still go inline: one upload per long command, none for the short one.
      expect((await session.run(['sh', '-c', 'echo short'], { timeoutMs: 10_000, signal: signal() })).stdout).toBe('short\n');
    } finally {
      await session.close();
    }
    expect(fake.count('upload')).toBe(2);
    expect(fake.count('execute')).toBe(3);
    const longest = Math.max(...fake.calls.filter((call) => call.endpoint === 'execute').map((call) => (call.body as { command: string }).command.length));
    expect(longest).toBeLessThan(1_000);
  }, 30_000);

  test('long output is cut in the middle inside the sandbox and flagged', async () => {
    const small = runnerFor(fake, { maxOutputBytes: 1_000 });
    const session = await small.open(openSpec());
    try {
      const result = await session.run(['python3', '-c', 'import sys; print("BEGIN" + "x" * 5000 + "END"); sys.stderr.write("e" * 10)'], { timeoutMs: 10_000, signal: signal() });
      expect(result.stdoutTruncated).toBe(true);
      expect(result.stderrTruncated).toBe(false);
      expect(result.stdout.startsWith('BEGIN')).toBe(true);
      expect(result.stdout.trimEnd().endsWith('END')).toBe(true);
      expect(result.stdout).toMatch(/bytes omitted/);
      expect(result.stdout.length).toBeLessThan(1_200);
      expect(result.stderr).toBe('e'.repeat(10));
    } finally {
      await session.close();
      await small.dispose();
    }
  }, 30_000);

  test('the output of a command killed at its timeout is read back', async () => {
    const session = await runner.open(openSpec());
    try {
      const result = await session.run(['sh', '-c', 'echo before-the-hang; echo err-before >&2; sleep 30'], { timeoutMs: 1_000, signal: signal() });
      expect(result.timedOut).toBe(true);
      expect(result.exitCode).toBeNull();
      expect(result.stdout).toMatch(/before-the-hang/);
      expect(result.stderr).toMatch(/err-before/);
      // The session stays usable.
      expect((await session.run(['sh', '-c', 'echo alive'], { timeoutMs: 10_000, signal: signal() })).stdout).toBe('alive\n');
    } finally {
      await session.close();
    }
  }, 30_000);

  test('creates labelled sandboxes with the configured parameters and no host environment', async () => {
    fake.reset();
    process.env.PTC_DAYTONA_HOST_SECRET_TOKEN = 'host-value-never-sent';
    const labelled = runnerFor(fake, { labels: { team: 'qa' }, autoStopIntervalMinutes: 5, snapshot: 'my-snapshot', sandboxParams: { networkBlockAll: true } });
    try {
      const session = await labelled.open(openSpec({ executionId: 'Run #42 / weird id', env: { GIVEN: 'yes' } }));
      const result = await session.run(['sh', '-c', 'echo "given=$GIVEN host=$PTC_DAYTONA_HOST_SECRET_TOKEN"'], { timeoutMs: 10_000, signal: signal() });
      expect(result.stdout).toBe('given=yes host=\n');
      await session.close();
    } finally {
      delete process.env.PTC_DAYTONA_HOST_SECRET_TOKEN;
      await labelled.dispose();
    }
    const create = fake.calls.find((call) => call.endpoint === 'create')!.body as Record<string, unknown>;
    expect(create.labels).toEqual({ team: 'qa', [DAYTONA_MARKER_LABEL]: 'true', [DAYTONA_EXECUTION_LABEL]: 'Run-42-weird-id', 'code-toolbox-language': 'python' });
    expect(create).toMatchObject({ snapshot: 'my-snapshot', autoStopInterval: 5, autoDeleteInterval: 0, networkBlockAll: true, target: 'us', env: {} });
    expect(String(create.name)).toMatch(/^ptc-run-42-weird-id-[0-9a-f]{8}$/);
    expect(JSON.stringify(fake.calls)).not.toContain('host-value-never-sent');
    const execute = fake.calls.find((call) => call.endpoint === 'execute')!.body as { envs?: Record<string, string> };
    expect(execute.envs).toEqual({ GIVEN: 'yes' });
  }, 30_000);

  test('installs the dependencies at open, and a failed install fails open and deletes the sandbox', async () => {
    fake.reset();
    const installed: unknown[] = [];
    const installing = runnerFor(fake, {
      extraDependencies: { python: ['base-pkg'] },
      installCommand: (language, dependencies) => ['sh', '-c', 'echo "$0 $*" > ../installed.txt; case "$*" in *broken*) echo "no such package: broken" >&2; exit 1;; esac', language, ...dependencies],
    });
    try {
      const session = await installing.open(openSpec({ dependencies: ['requests>=2', 'base-pkg'], onDependenciesInstalled: (info) => installed.push(info) }));
      expect(installed).toEqual([{ count: 2, durationMs: expect.any(Number), reused: false }]);
      const record = await session.run(['cat', '../installed.txt'], { timeoutMs: 10_000, signal: signal() });
      expect(record.stdout).toBe('python base-pkg requests>=2\n');
      await session.close();

      const failure = await installing.open(openSpec({ dependencies: ['broken'] })).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isPTCError(failure) && failure.code).toBe('DEPENDENCY_INSTALL_FAILED');
      expect((failure as Error).message).toMatch(/no such package: broken/);
    } finally {
      await installing.dispose();
    }
    expect(fake.count('create')).toBe(2);
    expect(fake.count('delete')).toBe(2);
    expect(fake.liveSandboxes()).toEqual([]);
  }, 30_000);

  test('an injected client is used and never disposed; a built one is disposed', async () => {
    const client = clientFor(fake);
    let disposed = 0;
    const original = client[Symbol.asyncDispose].bind(client);
    client[Symbol.asyncDispose] = async () => {
      disposed += 1;
      await original();
    };
    const injected = new DaytonaSandboxRunner({ client, requestTimeoutMs: 5_000, onWarning: () => {} });
    const session = await injected.open(openSpec());
    expect(await session.run(['sh', '-c', 'echo via-injected'], { timeoutMs: 10_000, signal: signal() })).toMatchObject({ exitCode: 0, stdout: 'via-injected\n' });
    await session.close();
    await injected.dispose();
    expect(disposed).toBe(0);
    await original();
  }, 30_000);

  test('sweepOrphans deletes only old sandboxes carrying the ptc-agent label and spares open sessions', async () => {
    const hourAgo = new Date(Date.now() - 3_600_000);
    const orphan = await fake.seedSandbox({ labels: { [DAYTONA_MARKER_LABEL]: 'true' }, createdAt: hourAgo });
    const foreign = await fake.seedSandbox({ labels: { owner: 'someone-else' }, createdAt: hourAgo });
    const young = await fake.seedSandbox({ labels: { [DAYTONA_MARKER_LABEL]: 'true' }, createdAt: new Date() });
    const session = await runner.open(openSpec());
    try {
      const result = await runner.sweepOrphans({ olderThanMs: 10 * 60_000 });
      expect(result).toEqual({ deleted: [orphan], failed: [] });
      expect(fake.liveSandboxes()).toEqual(expect.arrayContaining([foreign, young, session.id]));
      expect(fake.liveSandboxes()).not.toContain(orphan);
      // Age 0 takes the young one too, but never the open session's sandbox.
      const all = await runner.sweepOrphans({ olderThanMs: 0 });
      expect(all.deleted).toEqual([young]);
    } finally {
      await session.close();
      // The foreign sandbox is not ours to delete; remove it by hand for the leak check.
      await clientFor(fake).get(foreign).then((sandbox) => sandbox.delete(5));
    }
  }, 30_000);

  test('options are validated eagerly with a TypeError naming the option; no I/O in the constructor', () => {
    const base = { apiKey: 'k', apiUrl: fake.apiUrl };
    const before = fake.calls.length;
    expect(() => new DaytonaSandboxRunner({ ...base, createTimeoutMs: 0 })).toThrow(/createTimeoutMs/);
    expect(() => new DaytonaSandboxRunner({ ...base, retries: -1 })).toThrow(/retries/);
    expect(() => new DaytonaSandboxRunner({ ...base, apiUrl: 'not a url' })).toThrow(/apiUrl/);
    expect(() => new DaytonaSandboxRunner({ ...base, snapshot: 's', image: 'python:3.12' })).toThrow(/snapshot and image/);
    expect(() => new DaytonaSandboxRunner({ ...base, resources: { cpu: 2 } })).toThrow(/resources/);
    expect(() => new DaytonaSandboxRunner({ ...base, labels: { 'ptc-agent': 'x' } })).toThrow(/labels\.ptc-agent/);
    expect(() => new DaytonaSandboxRunner({ ...base, workspaceDir: '../up' })).toThrow(/workspaceDir/);
    expect(() => new DaytonaSandboxRunner({ client: clientFor(fake), apiKey: 'k' })).toThrow(/apiKey cannot be combined with client/);
    const previous = process.env.DAYTONA_API_KEY;
    delete process.env.DAYTONA_API_KEY;
    try {
      expect(() => new DaytonaSandboxRunner({ apiUrl: fake.apiUrl })).toThrow(TypeError);
    } finally {
      if (previous !== undefined) process.env.DAYTONA_API_KEY = previous;
    }
    expect(() => new DaytonaSandboxRunner(base)).not.toThrow();
    expect(fake.calls.length).toBe(before);
  });
});
