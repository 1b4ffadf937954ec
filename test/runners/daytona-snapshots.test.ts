import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DependenciesInstalledInfo, SandboxOpenSpec } from '../../src/contracts/sandbox-runner.js';
import type { DaytonaSandboxRunner, DaytonaSandboxRunnerOptions } from '../../src/runners/daytona.js';
import { dependencySnapshotName } from '../../src/runners/daytona/snapshots.js';
import { PTCAgent, type PTCEventMap } from '../../src/index.js';
import { ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FakeDaytonaServer, openSpec, runnerFor, signal } from '../fakes/daytona-server.js';

let fake: FakeDaytonaServer;
const runners: DaytonaSandboxRunner[] = [];

beforeAll(async () => {
  fake = await FakeDaytonaServer.start();
});

afterAll(async () => {
  await Promise.all(runners.map((runner) => runner.dispose()));
  const leaked = fake?.liveSandboxes() ?? [];
  await fake?.close();
  expect(leaked).toEqual([]);
});

const MARKER = 'PTC-INSTALL-MARKER';

/** A runner whose install appends the set to ../installs.log (outside the workspace, inside the sandbox). */
function installing(options: DaytonaSandboxRunnerOptions = {}): DaytonaSandboxRunner {
  const runner = runnerFor(fake, {
    installCommand: (language, dependencies) => ['sh', '-c', `echo "$*" >> ../installs.log # ${MARKER}`, language, ...dependencies],
    ...options,
  });
  runners.push(runner);
  return runner;
}

/** Install commands the fake ran, by their marker. */
const installsRun = () => fake.calls.filter((call) => call.endpoint === 'execute' && JSON.stringify(call.body).includes(MARKER)).length;

function spec(dependencies: string[], seen: { installed: DependenciesInstalledInfo[]; warnings: Array<{ code: string; message: string }> }): SandboxOpenSpec {
  return openSpec({
    dependencies,
    onDependenciesInstalled: (info) => seen.installed.push(info),
    onWarning: (code, message) => seen.warnings.push({ code, message }),
  });
}

const seen = () => ({ installed: [] as DependenciesInstalledInfo[], warnings: [] as Array<{ code: string; message: string }> });

describe('Daytona dependency snapshots', () => {
  test('the first session of a set installs and snapshots; the next starts from the snapshot and installs nothing', async () => {
    fake.reset();
    const runner = installing();
    const first = seen();
    const one = await runner.open(spec(['pkg-a', 'pkg-b'], first));
    expect((await one.run(['cat', '../installs.log'], { timeoutMs: 10_000, signal: signal() })).stdout).toBe('pkg-a pkg-b\n');
    await one.close();
    expect(first.installed).toEqual([{ count: 2, durationMs: expect.any(Number), reused: false }]);
    expect(first.warnings).toEqual([]);
    const snapshots = fake.snapshots();
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]!.name).toMatch(/^ptc-deps-python-[0-9a-f]{24}$/);
    const request = fake.calls.find((call) => call.endpoint === 'sandbox-snapshot');
    expect(request?.body).toEqual({ name: snapshots[0]!.name });
    // The install's result is in it; the runner's command files are not.
    expect(await fake.snapshotFiles(snapshots[0]!.name)).toEqual(['installs.log']);

    // Another runner (another process): the set's order does not matter, the name is the same.
    const second = seen();
    const two = await installing().open(spec(['pkg-b', 'pkg-a'], second));
    try {
      expect(second.installed).toEqual([{ count: 2, durationMs: expect.any(Number), reused: true }]);
      expect(installsRun()).toBe(1);
      const created = fake.calls.filter((call) => call.endpoint === 'create').at(-1)!.body as Record<string, unknown>;
      expect(created.snapshot).toBe(snapshots[0]!.name);
      // What the install left is there, from the snapshot; the install's command files are not.
      expect((await two.run(['cat', '../installs.log'], { timeoutMs: 10_000, signal: signal() })).stdout).toBe('pkg-a pkg-b\n');
      expect(fake.count('sandbox-snapshot')).toBe(1);
    } finally {
      await two.close();
    }
  }, 60_000);

  test('two concurrent opens of one set in one runner make one snapshot and run one install', async () => {
    fake.reset();
    const runner = installing();
    const a = seen();
    const b = seen();
    const [one, two] = await Promise.all([runner.open(spec(['pkg-c'], a)), runner.open(spec(['pkg-c'], b))]);
    await Promise.all([one.close(), two.close()]);
    expect(fake.count('sandbox-snapshot')).toBe(1);
    expect(installsRun()).toBe(1);
    expect([a.installed[0]!.reused, b.installed[0]!.reused].sort()).toEqual([false, true]);
    expect([...a.warnings, ...b.warnings]).toEqual([]);
  }, 60_000);

  test('two runners (two processes) making the same snapshot at once: the second is told it exists, and that is fine', async () => {
    fake.reset();
    const a = seen();
    const b = seen();
    const [one, two] = await Promise.all([installing().open(spec(['pkg-d'], a)), installing().open(spec(['pkg-d'], b))]);
    try {
      for (const session of [one, two]) expect((await session.run(['cat', '../installs.log'], { timeoutMs: 10_000, signal: signal() })).stdout).toBe('pkg-d\n');
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
    const requests = fake.calls.filter((call) => call.endpoint === 'sandbox-snapshot');
    expect(requests.map((call) => call.outcome).sort()).toEqual([200, 409]);
    expect(fake.snapshots().filter((snapshot) => snapshot.name.startsWith('ptc-deps-'))).toHaveLength(fake.snapshots().length);
    expect([...a.warnings, ...b.warnings]).toEqual([]);
  }, 60_000);

  test('a snapshot that fails to be made: the session goes on with a SNAPSHOT_FAILED warning, and the next one tries again', async () => {
    fake.reset();
    const runner = installing();
    fake.injectFault({ endpoint: 'sandbox-snapshot', kind: 'error', status: 500, message: 'disk quota exceeded' });
    const first = seen();
    const one = await runner.open(spec(['pkg-e'], first));
    try {
      expect(first.warnings).toEqual([{ code: 'SNAPSHOT_FAILED', message: expect.stringMatching(/disk quota exceeded/) }]);
      expect((await one.run(['cat', '../installs.log'], { timeoutMs: 10_000, signal: signal() })).stdout).toBe('pkg-e\n');
    } finally {
      await one.close();
    }
    const second = seen();
    const two = await runner.open(spec(['pkg-e'], second));
    await two.close();
    expect(second.installed[0]!.reused).toBe(false);
    expect(second.warnings).toEqual([]);
    expect(installsRun()).toBe(2);
    expect(fake.count('sandbox-snapshot')).toBe(2);
  }, 60_000);

  test('a snapshot in a failed state: a plain sandbox that installs, and a warning', async () => {
    fake.reset();
    const runner = installing();
    const name = nameFor(['pkg-f']);
    await fake.seedSnapshot(name, { state: 'build_failed', errorReason: 'boom' });
    const first = seen();
    const one = await runner.open(spec(['pkg-f'], first));
    await one.close();
    expect(first.installed[0]!.reused).toBe(false);
    expect(first.warnings).toEqual([{ code: 'SNAPSHOT_FAILED', message: expect.stringMatching(/build_failed/) }]);
    expect(installsRun()).toBe(1);
    expect(fake.count('sandbox-snapshot')).toBe(0);
  }, 60_000);

  test('a snapshot another process is still making is waited for, then used', async () => {
    fake.reset();
    const runner = installing();
    const name = nameFor(['pkg-g']);
    await fake.seedSnapshot(name, { pendingPolls: 1, files: { 'installs.log': 'made elsewhere\n' } });
    const first = seen();
    const one = await runner.open(spec(['pkg-g'], first));
    try {
      expect(first.installed[0]!.reused).toBe(true);
      expect((await one.run(['cat', '../installs.log'], { timeoutMs: 10_000, signal: signal() })).stdout).toBe('made elsewhere\n');
    } finally {
      await one.close();
    }
    expect(installsRun()).toBe(0);
    expect(fake.count('snapshot-get')).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test('a sandbox that cannot start from the snapshot: a plain one that installs, and a warning', async () => {
    fake.reset();
    const runner = installing();
    await (await runner.open(spec(['pkg-h'], seen()))).close();
    fake.injectFault({ endpoint: 'create', kind: 'error', status: 400, message: 'snapshot not usable in this region' });
    const second = seen();
    const two = await runner.open(spec(['pkg-h'], second));
    await two.close();
    expect(second.warnings).toEqual([{ code: 'SNAPSHOT_FAILED', message: expect.stringMatching(/not usable in this region/) }]);
    expect(second.installed[0]!.reused).toBe(false);
    expect(installsRun()).toBe(2);
    expect(fake.liveSandboxes()).toEqual([]);
  }, 60_000);

  test('dependencySnapshots: false never looks for or makes a snapshot; no dependencies, no snapshot', async () => {
    fake.reset();
    const off = installing({ dependencySnapshots: false });
    await (await off.open(spec(['pkg-i'], seen()))).close();
    await (await installing().open(spec([], seen()))).close();
    expect(fake.calls.filter((call) => call.endpoint.startsWith('snapshot') || call.endpoint === 'sandbox-snapshot')).toEqual([]);
    expect(() => runnerFor(fake, { dependencySnapshots: 'yes' as never })).toThrow(/dependencySnapshots/);
    expect(() => runnerFor(fake, { snapshotTimeoutMs: 0 })).toThrow(/snapshotTimeoutMs/);
  }, 60_000);

  test('parallel candidates through the agent: the dependency set is installed once, the other candidates start from its snapshot', async () => {
    fake.reset();
    const runner = installing();
    const files = [
      { path: 'calc.py', content: 'def add(a, b):\n    return a - b\n' },
      { path: 'tests/test_calc.py', content: 'from calc import add\n\ndef test_add():\n    assert add(1, 2) == 3\n', kind: 'test' as const },
    ];
    // Every candidate red: all three are tested, each in a sandbox of its own.
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files }), runner, cache: false, maxConcurrent: 3 });
    const installed: Array<PTCEventMap['dependencies:installed']> = [];
    agent.on('dependencies:installed', (event) => installed.push(event));
    const bundle = await agent.execute({ taskDescription: 'add', requirements: [], language: 'python', dependencies: ['pkg-j'], candidates: 3, maxIterations: 1 });
    await agent.close();
    expect(bundle.candidates).toHaveLength(3);
    expect(fake.count('create')).toBe(3);
    expect(installsRun()).toBe(1);
    expect(fake.count('sandbox-snapshot')).toBe(1);
    expect(installed.map((event) => event.reused).sort()).toEqual([false, true, true]);
    expect(bundle.warnings.filter((warning) => /snapshot/i.test(warning))).toEqual([]);
  }, 120_000);

  test('the name follows what is installed: order-free, but language, install command and base count', () => {
    const base = { language: 'python' as const, dependencies: ['a', 'b'], installCommand: ['pip', 'install', 'a', 'b'], base: {} };
    const name = dependencySnapshotName(base);
    expect(dependencySnapshotName({ ...base, dependencies: ['b', 'a'] })).toBe(name);
    expect(dependencySnapshotName({ ...base, language: 'javascript' })).not.toBe(name);
    expect(dependencySnapshotName({ ...base, installCommand: ['uv', 'pip', 'install', 'a', 'b'] })).not.toBe(name);
    expect(dependencySnapshotName({ ...base, base: { image: 'python:3.12-slim' } })).not.toBe(name);
    expect(dependencySnapshotName({ ...base, dependencies: ['a', 'c'] })).not.toBe(name);
  });
});

/** The name `installing()` runners give a python set. */
function nameFor(dependencies: string[]): string {
  const sorted = [...dependencies].sort();
  return dependencySnapshotName({ language: 'python', dependencies: sorted, installCommand: ['sh', '-c', `echo "$*" >> ../installs.log # ${MARKER}`, 'python', ...sorted], base: {} });
}
