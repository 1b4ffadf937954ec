import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ArtifactBundle, type BundleStatus, type GeneratedFileInput, LocalSandboxRunner, PTCAgent, type StopReason } from '../../src/index.js';
import { ScriptedCodeGenerator } from '../../src/testing/index.js';
import { bubblewrapUsable } from '../runners/local-helpers.js';
import { activeResources, capture, expectNoSecret, expectValidBundle, plantSecret, resourcesBackTo, SECRET, SECRET_NAME } from './harness.js';

/**
 * The fault matrix with the REAL local runner and real pytest: here the faults come from the
 * generated code itself (a test that hangs, floods its output, kills its interpreter, leaves
 * children behind, writes huge files, reads the environment) and from stopping the run while
 * pytest works. After every row: the agent resolved with the right status, no process of the run
 * is left (found by a marker in their command lines and by their environment, which names the
 * row's own workspace root), the workspace root is empty, the secret is nowhere, and the code
 * could not read the secret from its environment.
 */

const unplant = plantSecret();
const IN_CI = process.env.CI === 'true';
const HAS_BWRAP = bubblewrapUsable();
const SKIP_BWRAP = !HAS_BWRAP && !IN_CI;
if (SKIP_BWRAP) console.warn('\n*** [fault matrix] bubblewrap (bwrap) is not usable here: the bwrap rows are SKIPPED (apt-get install -y bubblewrap) ***\n');

const roots: string[] = [];
let baseline: Map<string, number>;
beforeAll(() => {
  baseline = activeResources();
});
afterAll(() => {
  unplant();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** Processes whose command line or environment mentions any needle (a row's leftovers). */
function processesMentioning(needles: readonly string[]): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    for (const file of ['cmdline', 'environ']) {
      try {
        const text = readFileSync(`/proc/${entry}/${file}`, 'latin1');
        const needle = needles.find((candidate) => text.includes(candidate));
        if (needle) {
          found.push(`${entry} (${file}: ${readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\u0000', ' ').slice(0, 120)})`);
          break;
        }
      } catch {
        // Gone while we looked, or not ours to read.
      }
    }
  }
  return found;
}

/** Python that starts a process outliving the test, in its own session, carrying the marker. */
const orphan = (marker: string) =>
  `subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "${marker}"], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)`;

/** A project whose test body is `body`; the source module is trivial. */
function project(body: string, marker: string): GeneratedFileInput[] {
  return [
    { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' },
    {
      path: 'tests/test_fault.py',
      kind: 'test',
      content: [
        'import binascii, os, signal, subprocess, sys, time',
        'from calc import add',
        `MARKER = "${marker}"`,
        '',
        'def test_fault():',
        ...body.split('\n').map((line) => `    ${line}`),
        '',
      ].join('\n'),
    },
  ];
}

interface LocalRow {
  name: string;
  /** The test body (indented into `def test_fault():`). */
  body: (marker: string) => string;
  expected: { status: BundleStatus; stopReason: StopReason; code?: string | null };
  plan?: { timeoutMs?: number };
  testTimeoutMs?: number;
  /** Abort this long after `tests:start`. */
  abortAfterTestsStartMs?: number;
  check?: (bundle: ArtifactBundle, isolation: 'none' | 'bwrap') => void;
  /** Only under this isolation. */
  only?: 'none' | 'bwrap';
}

const RED: LocalRow['expected'] = { status: 'partial_success', stopReason: 'max_iterations', code: 'TESTS_FAILED' };

const ROWS: LocalRow[] = [
  {
    name: 'a test that hangs (with a child) times out',
    body: (marker) => `${orphan(marker)}\ntime.sleep(600)`,
    testTimeoutMs: 2_000,
    expected: RED,
    check: (bundle) => expect(bundle.testReport?.problem).toMatch(/timed out/),
  },
  {
    name: 'a test that floods 20 MB of output',
    body: () => 'for _ in range(20):\n    os.write(1, b"x" * 1_000_000)\nassert False, "flooded"',
    expected: RED,
    check: (bundle) => {
      expect(bundle.testReport?.stdoutTruncated).toBe(true);
      expect(JSON.stringify(bundle).length).toBeLessThan(1_000_000);
    },
  },
  {
    name: 'a test that ends the interpreter with os._exit',
    body: (marker) => `${orphan(marker)}\nos._exit(3)`,
    expected: RED,
    check: (bundle) => expect(bundle.testReport?.problem).toBeTruthy(),
  },
  {
    name: 'a test that SIGKILLs its own interpreter',
    body: (marker) => `${orphan(marker)}\nos.kill(os.getpid(), signal.SIGKILL)`,
    expected: RED,
    check: (bundle) => expect(bundle.testReport?.problem).toBeTruthy(),
  },
  {
    name: 'a passing test that leaves daemons behind (setsid child and a double fork)',
    body: (marker) =>
      [
        `child = ${orphan(marker)}`,
        'if os.fork() == 0:',
        '    os.setsid()',
        '    if os.fork() == 0:',
        `        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", MARKER])`,
        '    os._exit(0)',
        'time.sleep(0.2)',
        '# The leftovers exist when the test ends: the runner, not luck, must remove them.',
        'assert child.poll() is None',
        'assert add(1, 2) == 3',
      ].join('\n'),
    expected: { status: 'success', stopReason: 'tests_passed', code: null },
  },
  {
    name: 'a test that writes a file past maxFileSizeBytes',
    body: () => 'with open("huge.bin", "wb") as f:\n    for _ in range(64):\n        f.write(b"x" * 1_048_576)',
    expected: RED,
    check: (bundle) => expect(JSON.stringify(bundle.testReport?.cases)).toMatch(/File too large|SIGXFSZ|EFBIG|file size/i),
  },
  {
    name: 'the caller aborts while pytest runs',
    body: (marker) => `${orphan(marker)}\ntime.sleep(600)`,
    abortAfterTestsStartMs: 700,
    expected: { status: 'cancelled', stopReason: 'cancelled', code: 'ABORTED' },
  },
  {
    name: 'the run times out while pytest runs',
    body: (marker) => `${orphan(marker)}\ntime.sleep(600)`,
    plan: { timeoutMs: 4_000 },
    expected: { status: 'timeout', stopReason: 'timeout', code: 'TIMEOUT' },
  },
  {
    name: 'generated code cannot read the planted secret from its environment',
    body: () =>
      [
        'values = "".join(os.environ.values()).encode()',
        `print("HAS_NAME=" + str("${SECRET_NAME}" in os.environ))`,
        'print("ENV_HEX=" + binascii.hexlify(values).decode())',
        'hits = 0',
        'for pid in os.listdir("/proc"):',
        '    if pid.isdigit():',
        '        try:',
        '            with open("/proc/" + pid + "/environ", "rb") as f:',
        `                hits += b"${SECRET_NAME}" in f.read()`,
        '        except Exception:',
        '            pass',
        'print("PROC_ENVIRON_HITS=" + str(hits))',
        'assert False, "show the output"',
      ].join('\n'),
    expected: RED,
    check: (bundle, isolation) => {
      const stdout = bundle.testReport?.stdout ?? '';
      expect(stdout).toContain('HAS_NAME=False');
      const hex = /ENV_HEX=([0-9a-f]*)/.exec(stdout)?.[1];
      expect(hex, 'the environment dump is in the output').toBeDefined();
      expect(hex).not.toContain(Buffer.from(SECRET).toString('hex'));
      // Under bwrap the jail has its own /proc: no host process (ours included) is visible.
      // Under 'none' the code can read the host's /proc (documented); the redactor still scrubs.
      if (isolation === 'bwrap') expect(stdout).toContain('PROC_ENVIRON_HITS=0');
    },
  },
];

async function runLocalRow(row: LocalRow, isolation: 'none' | 'bwrap'): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'ptc-faults-'));
  roots.push(root);
  const workspaceRoot = join(root, 'workspaces');
  const marker = `ptcfault${randomBytes(6).toString('hex')}`;
  const warnings: string[] = [];
  const runner = new LocalSandboxRunner({
    isolation,
    workspaceRoot,
    cacheDirectory: join(root, 'deps'),
    maxFileSizeBytes: 8 * 1024 * 1024,
    onWarning: (message) => warnings.push(message),
  });
  const generator = new ScriptedCodeGenerator({ files: project(row.body(marker), marker), notes: `notes ${SECRET}` });
  const agent = new PTCAgent({ generator, runner, cache: false, testTimeoutMs: row.testTimeoutMs ?? 30_000, closeTimeoutMs: 10_000 });
  const controller = new AbortController();
  let abortTimer: NodeJS.Timeout | undefined;
  if (row.abortAfterTestsStartMs !== undefined) {
    const after = row.abortAfterTestsStartMs;
    agent.on('tests:start', () => {
      abortTimer = setTimeout(() => controller.abort(), after);
    });
  }
  try {
    const run = await capture(
      agent,
      { taskDescription: 'a faulty test', maxIterations: 1, timeoutMs: row.plan?.timeoutMs ?? 60_000 },
      { mode: 'execute', signal: controller.signal, deadlineMs: 45_000 },
    );
    if (run.error !== undefined) throw run.error;
    const bundle = run.bundle!;
    expectValidBundle(bundle);
    expect({ status: bundle.status, stopReason: bundle.stopReason, code: bundle.error?.code ?? null }, JSON.stringify(bundle.error)).toMatchObject(
      row.expected,
    );
    row.check?.(bundle, isolation);
    expectNoSecret({ events: run.events, bundle, warnings });
    // Nothing of the run survives it: no process, no workspace.
    expect(processesMentioning([marker, workspaceRoot]), 'processes left behind').toEqual([]);
    expect(readdirSync(workspaceRoot), 'workspaces left behind').toEqual([]);
  } finally {
    clearTimeout(abortTimer);
  }
}

describe.concurrent(`fault matrix, real LocalSandboxRunner, isolation none`, () => {
  test.each(ROWS.filter((row) => row.only !== 'bwrap').map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    await runLocalRow(row, 'none');
  }, 60_000);

  test('open fails: the workspace root cannot be created', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ptc-faults-'));
    roots.push(root);
    writeFileSync(join(root, 'not-a-directory'), '');
    const runner = new LocalSandboxRunner({ isolation: 'none', workspaceRoot: join(root, 'not-a-directory', 'workspaces'), onWarning: () => {} });
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: project('pass', 'x') }), runner, cache: false });
    const run = await capture(agent, { taskDescription: 'open fails' }, { mode: 'execute', deadlineMs: 20_000 });
    expect(run.bundle).toMatchObject({ status: 'failure', stopReason: 'sandbox_failed', error: { code: 'SANDBOX_OPEN_FAILED' } });
    expectNoSecret({ events: run.events, bundle: run.bundle });
  });
});

describe.skipIf(SKIP_BWRAP)(`fault matrix, real LocalSandboxRunner, isolation bwrap${SKIP_BWRAP ? ' (SKIPPED: bwrap is not usable here)' : ''}`, { concurrent: true }, () => {
  test('bwrap is usable (required under CI=true)', () => {
    expect(HAS_BWRAP, 'bwrap is missing or cannot create namespaces: apt-get install -y bubblewrap').toBe(true);
  });
  test.each(ROWS.filter((row) => row.only !== 'none').map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    await runLocalRow(row, 'bwrap');
  }, 60_000);
});

describe('the leftover detector', () => {
  test('finds a process carrying a marker, and stops finding it once it is gone (so the rows can fail)', async () => {
    const marker = `ptcfault${randomBytes(6).toString('hex')}`;
    const child = spawn('python3', ['-c', 'import time; time.sleep(30)', marker], { stdio: 'ignore' });
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(processesMentioning([marker])).toHaveLength(1);
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    expect(processesMentioning([marker])).toEqual([]);
  });
});

describe('open handles after the real-runner rows', () => {
  test('no child process, pipe, timer or file handle outlives the runs', async () => {
    const grown = await resourcesBackTo(baseline, 5_000);
    expect(grown, `resources still active: ${grown.join(', ')}`).toEqual([]);
  });
});
