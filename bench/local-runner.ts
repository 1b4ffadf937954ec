/**
 * LocalSandboxRunner overhead, measured in one run:
 *  1. a pytest run through the runner / the same bare `python3 -m pytest` in the same prepared
 *     directory (goal <= 1.10 without isolation, <= 1.30 with bwrap);
 *  2. the second `open` with the same dependencies / the first (the install is reused);
 *  3. warm runs (`warmPython`, issue 16): a 3-test suite through the runner under bwrap, warm /
 *     bare `python3 -B -m pytest` cold in the same directory (goal <= 0.25), beside the same
 *     suite through a cold bwrap session. Each runner run follows a `sync` (not timed), as in
 *     the agent, and the bare and cold runs between two warm ones leave its standby time to load.
 *
 * Runs are interleaved (bare, none, bwrap, bare, …) and the median of each is taken, so load
 * from other processes on the machine hits all of them alike.
 *
 *   npx tsx bench/local-runner.ts [rounds]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SandboxSession } from '../src/contracts/sandbox-runner.js';
import { PYTHON_PYTEST } from '../src/reports/presets.js';
import { LocalSandboxRunner, type LocalIsolation } from '../src/runners/local.js';
import { reportResult } from './result.js';

const rounds = Number(process.argv[2] ?? 10);
const signal = () => new AbortController().signal;
const scratch = mkdtempSync(join(tmpdir(), 'ptc-bench-local-'));

const files = [
  { path: 'calc.py', content: 'def add(a, b):\n    return a + b\n\ndef mul(a, b):\n    return a * b\n' },
  {
    path: 'tests/test_calc.py',
    content: ['from calc import add, mul', '', ...Array.from({ length: 10 }, (_, index) => `def test_${index}():\n    assert add(${index}, 1) == ${index + 1}\n    assert mul(${index}, 2) == ${index * 2}\n`)].join('\n'),
  },
];

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function bare(directory: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON_PYTEST.command[0]!, PYTHON_PYTEST.command.slice(1), { cwd: directory, stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`bare pytest exited ${code}`))));
  });
}

async function throughRunner(session: SandboxSession): Promise<number> {
  const started = performance.now();
  const result = await session.run(PYTHON_PYTEST.command, { timeoutMs: 120_000, signal: signal() });
  if (result.exitCode !== 0) throw new Error(`pytest through the runner exited ${result.exitCode}: ${result.stderr.slice(-500)}`);
  return performance.now() - started;
}

async function openSession(isolation: LocalIsolation): Promise<{ session: SandboxSession; directory: string }> {
  const runner = new LocalSandboxRunner({ isolation, onWarning: () => {} });
  const session = await runner.open({ executionId: 'bench', language: 'python', dependencies: [], env: {}, signal: signal() });
  await session.sync(files, { signal: signal() });
  const directory = (await session.run(['pwd'], { timeoutMs: 10_000, signal: signal() })).stdout.trim();
  return { session, directory };
}

/** The runner's fixed cost per command (spawn chain, limits, cgroup, jail), free of pytest's noise. */
async function fixedCost(session: SandboxSession): Promise<number> {
  const samples: number[] = [];
  for (let index = 0; index < 15; index += 1) {
    const started = performance.now();
    await session.run(['true'], { timeoutMs: 10_000, signal: signal() });
    samples.push(performance.now() - started);
  }
  return median(samples);
}

async function overhead(): Promise<void> {
  const hasBwrap = await new LocalSandboxRunner({ isolation: 'auto', onWarning: () => {} }).effectiveIsolation() === 'bwrap';
  const none = await openSession('none');
  const jailed = hasBwrap ? await openSession('bwrap') : undefined;
  let fixedNone = 0;
  let fixedJailed = 0;
  const times = { bareNone: [] as number[], none: [] as number[], bareJailed: [] as number[], jailed: [] as number[] };
  try {
    // Warm-up: the first pytest start pays for cold caches.
    await bare(none.directory);
    await throughRunner(none.session);
    if (jailed) await throughRunner(jailed.session);
    fixedNone = await fixedCost(none.session);
    if (jailed) fixedJailed = await fixedCost(jailed.session);
    // The order flips every round, so "runs right after another run" favours neither side.
    for (let round = 0; round < rounds; round += 1) {
      const pairs: Array<[() => Promise<number>, number[]]> = [
        [() => bare(none.directory), times.bareNone],
        [() => throughRunner(none.session), times.none],
      ];
      if (jailed) pairs.push([() => bare(jailed.directory), times.bareJailed], [() => throughRunner(jailed.session), times.jailed]);
      if (round % 2 === 1) pairs.reverse();
      for (const [measure, into] of pairs) into.push(await measure());
    }
  } finally {
    await none.session.close();
    await jailed?.session.close();
  }
  const bareTrue: number[] = [];
  for (let index = 0; index < 15; index += 1) {
    const started = performance.now();
    execFileSync('true');
    bareTrue.push(performance.now() - started);
  }
  console.log(`one \`true\` command, bare: ${median(bareTrue).toFixed(1)} ms; runner none: ${fixedNone.toFixed(1)} ms${jailed ? `; runner bwrap: ${fixedJailed.toFixed(1)} ms` : ''}`);
  const ratioNone = median(times.none) / median(times.bareNone);
  console.log(`bare pytest (median of ${rounds}):        ${median(times.bareNone).toFixed(0)} ms`);
  console.log(`runner, isolation none:               ${median(times.none).toFixed(0)} ms`);
  console.log(`RATIO runner(none) / bare:            ${ratioNone.toFixed(3)}  (goal <= 1.10)`);
  reportResult({ name: 'local runner: run (none) / bare pytest', value: ratioNone, unit: 'x', goal: '<= 1.10' });
  if (jailed) {
    const ratioJailed = median(times.jailed) / median(times.bareJailed);
    console.log(`runner, isolation bwrap:              ${median(times.jailed).toFixed(0)} ms (bare in its directory: ${median(times.bareJailed).toFixed(0)} ms)`);
    console.log(`RATIO runner(bwrap) / bare:           ${ratioJailed.toFixed(3)}  (goal <= 1.30)`);
    reportResult({ name: 'local runner: run (bwrap) / bare pytest', value: ratioJailed, unit: 'x', goal: '<= 1.30' });
  } else {
    console.log('bwrap is not usable here: the bwrap ratio was not measured');
  }
}

/** A tiny pure-Python wheel, so the install is a real pip install with no index. */
function buildWheel(directory: string): void {
  const script = `
import sys, zipfile, os
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
info = "ptc_bench_dep-1.0.dist-info"
files = {
  "ptc_bench_dep/__init__.py": "VALUE = 1\\n",
  f"{info}/METADATA": "Metadata-Version: 2.1\\nName: ptc-bench-dep\\nVersion: 1.0\\n",
  f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: ptc-bench\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
files[f"{info}/RECORD"] = "".join(f"{p},,\\n" for p in files) + f"{info}/RECORD,,\\n"
with zipfile.ZipFile(os.path.join(out, "ptc_bench_dep-1.0-py3-none-any.whl"), "w") as archive:
    for path, content in files.items():
        archive.writestr(path, content)
`;
  execFileSync('python3', ['-c', script, directory]);
}

async function dependencyReuse(): Promise<void> {
  const wheelhouse = join(scratch, 'wheelhouse');
  buildWheel(wheelhouse);
  const runner = new LocalSandboxRunner({
    cacheDirectory: join(scratch, 'deps'),
    installEnv: { PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheelhouse },
    readOnlyPaths: [wheelhouse],
    onWarning: () => {},
  });
  const timeOpen = async () => {
    const started = performance.now();
    const session = await runner.open({ executionId: 'bench', language: 'python', dependencies: ['ptc-bench-dep'], env: {}, signal: signal() });
    const elapsed = performance.now() - started;
    await session.close();
    return elapsed;
  };
  const first = await timeOpen();
  const second = await timeOpen();
  console.log(`open with 1 dependency, first (pip install): ${first.toFixed(0)} ms`);
  console.log(`open with the same dependency, second:      ${second.toFixed(0)} ms`);
  console.log(`RATIO second open / first open:             ${(second / first).toFixed(3)}`);
  reportResult({ name: 'local runner: second open / first (same deps)', value: second / first, unit: 'x' });
}

const THREE_TESTS = [
  files[0]!,
  {
    path: 'tests/test_calc.py',
    content: ['from calc import add, mul', '', ...Array.from({ length: 3 }, (_, index) => `def test_${index}():\n    assert add(${index}, 1) == ${index + 1}\n    assert mul(${index}, 2) == ${index * 2}\n`)].join('\n'),
  },
];

async function warmRuns(): Promise<void> {
  if ((await new LocalSandboxRunner({ isolation: 'auto', onWarning: () => {} }).effectiveIsolation()) !== 'bwrap') {
    console.log('bwrap is not usable here: the warm ratio was not measured');
    return;
  }
  const openBwrap = async (warmPython: boolean) => {
    const runner = new LocalSandboxRunner({ isolation: 'bwrap', warmPython, onWarning: () => {} });
    const session = await runner.open({ executionId: 'bench-warm', language: 'python', dependencies: [], env: {}, signal: signal() });
    await session.sync(THREE_TESTS, { signal: signal() });
    const directory = (await session.run(['pwd'], { timeoutMs: 10_000, signal: signal() })).stdout.trim();
    return { session, directory };
  };
  const warm = await openBwrap(true);
  const cold = await openBwrap(false);
  const timed = async (session: SandboxSession) => {
    await session.sync(THREE_TESTS, { signal: signal() });
    return throughRunner(session);
  };
  const times = { bare: [] as number[], warm: [] as number[], cold: [] as number[] };
  try {
    await bare(warm.directory);
    await timed(warm.session);
    await timed(cold.session);
    for (let round = 0; round < rounds; round += 1) {
      const steps: Array<[() => Promise<number>, number[]]> = [
        [() => bare(warm.directory), times.bare],
        [() => timed(warm.session), times.warm],
        [() => timed(cold.session), times.cold],
      ];
      if (round % 2 === 1) steps.reverse();
      for (const [measure, into] of steps) into.push(await measure());
    }
  } finally {
    await warm.session.close();
    await cold.session.close();
  }
  const used = (warm.session as unknown as { warmRuns: number }).warmRuns;
  const ratio = median(times.warm) / median(times.bare);
  console.log(`3 tests, bare \`python3 -B -m pytest\` (median of ${rounds}): ${median(times.bare).toFixed(0)} ms`);
  console.log(`3 tests, runner bwrap cold:                       ${median(times.cold).toFixed(0)} ms`);
  console.log(`3 tests, runner bwrap warm:                       ${median(times.warm).toFixed(0)} ms (${used} of ${rounds + 1} runs warm)`);
  console.log(`RATIO runner(bwrap, warm) / bare:                 ${ratio.toFixed(3)}  (goal <= 0.25)`);
  console.log(`RATIO runner(bwrap, warm) / runner(bwrap, cold):  ${(median(times.warm) / median(times.cold)).toFixed(3)}`);
  reportResult({ name: 'local runner: warm run (bwrap) / bare pytest, 3 tests', value: ratio, unit: 'x', goal: '<= 0.25' });
}

try {
  await overhead();
  await dependencyReuse();
  await warmRuns();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
