/**
 * LocalSandboxRunner overhead, measured in one run:
 *  1. the cold path: a pytest run through the runner (`warmPython: false`) / the same bare pytest
 *     in the same prepared directory, hermetic as the runner's run is (the real interpreter, not a
 *     shim; plugin autoloading off) so the ratio is the runner's own overhead (goal <= 1.10
 *     without isolation, <= 1.30 with bwrap);
 *  2. the second `open` with the same dependencies / the first (the install is reused);
 *  3. warm runs (issue 16, see `warmRuns`): a 3-test suite through the runner under bwrap, warm /
 *     bare `python3 -B -m pytest` in the same directory as the host runs it (goal <= 0.25), and /
 *     a hermetic bare run (the fair figure); node through the runner, warm (`warmNode`) and cold, /
 *     bare `node --test` with the same reporters (goal <= 0.3). Figure 1 is the cold path
 *     (`warmPython: false`).
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
import { JAVASCRIPT_NODE_TEST, PYTHON_PYTEST } from '../src/reports/presets.js';
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

/**
 * The real interpreter behind `python3` (a pyenv shim here), and the environment the runner's
 * hermetic runs amount to: the runner starts that interpreter with plugin autoloading off, so a
 * bare baseline that pays the shim and the host's plugins would flatter the runner.
 */
const REAL_PYTHON = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
const HERMETIC_ENV = { ...process.env, PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1' };

/** Bare hermetic pytest in `directory`: the same work as a cold run through the runner, without the runner. */
function bare(directory: string): Promise<number> {
  return bareCommand([REAL_PYTHON, ...PYTHON_PYTEST.command.slice(1)], directory, HERMETIC_ENV);
}

async function throughRunner(session: SandboxSession): Promise<number> {
  const started = performance.now();
  const result = await session.run(PYTHON_PYTEST.command, { timeoutMs: 120_000, signal: signal() });
  if (result.exitCode !== 0) throw new Error(`pytest through the runner exited ${result.exitCode}: ${result.stderr.slice(-500)}`);
  return performance.now() - started;
}

async function openSession(isolation: LocalIsolation): Promise<{ session: SandboxSession; directory: string }> {
  // The cold path: no standby loading pytest beside the measured runs.
  const runner = new LocalSandboxRunner({ isolation, warmPython: false, onWarning: () => {} });
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
  console.log(`bare hermetic pytest (median of ${rounds}): ${median(times.bareNone).toFixed(0)} ms`);
  console.log(`runner, isolation none:               ${median(times.none).toFixed(0)} ms`);
  console.log(`RATIO cold runner(none) / bare hermetic:  ${ratioNone.toFixed(3)}  (goal <= 1.10)`);
  reportResult({ name: 'local runner: cold run (none) / hermetic bare pytest', value: ratioNone, unit: 'x', goal: '<= 1.10' });
  if (jailed) {
    const ratioJailed = median(times.jailed) / median(times.bareJailed);
    console.log(`runner, isolation bwrap:              ${median(times.jailed).toFixed(0)} ms (bare in its directory: ${median(times.bareJailed).toFixed(0)} ms)`);
    console.log(`RATIO cold runner(bwrap) / bare hermetic: ${ratioJailed.toFixed(3)}  (goal <= 1.30)`);
    reportResult({ name: 'local runner: cold run (bwrap) / hermetic bare pytest', value: ratioJailed, unit: 'x', goal: '<= 1.30' });
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

const NODE_THREE_TESTS = [
  { path: 'package.json', content: '{ "type": "module" }\n' },
  { path: 'src/calc.js', content: 'export const add = (a, b) => a + b;\nexport const mul = (a, b) => a * b;\n' },
  {
    path: 'test/calc.test.js',
    content: [
      "import { test } from 'node:test';",
      "import assert from 'node:assert/strict';",
      "import { add, mul } from '../src/calc.js';",
      ...Array.from({ length: 3 }, (_, index) => `test('case ${index}', () => {\n  assert.equal(add(${index}, 1), ${index + 1});\n  assert.equal(mul(${index}, 2), ${index * 2});\n});`),
    ].join('\n'),
  },
];
const NODE_COMMAND = [...JAVASCRIPT_NODE_TEST.command, 'test/calc.test.js'];

/** A bare command in `directory`, as a user would run it by hand; rejects unless it exits 0. */
function bareCommand(argv: readonly string[], directory: string, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd: directory, stdio: 'ignore', env });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`bare ${argv.join(' ')} exited ${code}`))));
  });
}

/**
 * Warm runs (issue 16), under bwrap, each runner run after a `sync` (not timed) as in the agent:
 * - Python: the 3-test suite warm / bare `python3 -B -m pytest` as the host runs it (through
 *   whatever `python3` is on PATH, a pyenv shim here, with the host's auto-loaded plugins), the
 *   issue's goal; and / a hermetic bare run (the real interpreter, plugin autoloading off: what the
 *   runner itself starts), the fair figure. The cold runner run is printed beside them.
 * - Node: the 3-test suite (one test file) through the runner, warm (the default) and cold
 *   (`warmNode: false`), / bare `node --test` with the preset's reporters in the same directory,
 *   with the host's environment and with the explicit one the runner gives (the fair figure).
 * Steps rotate every round so no step always runs right after another.
 */
async function warmRuns(): Promise<void> {
  if ((await new LocalSandboxRunner({ isolation: 'auto', onWarning: () => {} }).effectiveIsolation()) !== 'bwrap') {
    console.log('bwrap is not usable here: the warm ratios were not measured');
    return;
  }
  const realPython = REAL_PYTHON;
  const openBwrap = async (language: 'python' | 'javascript', warm: boolean, suite: typeof THREE_TESTS) => {
    const runner = new LocalSandboxRunner({ isolation: 'bwrap', warmPython: warm, warmNode: warm, onWarning: () => {} });
    const session = await runner.open({ executionId: 'bench-warm', language, dependencies: [], env: {}, signal: signal() });
    await session.sync(suite, { signal: signal() });
    const directory = (await session.run(['pwd'], { timeoutMs: 10_000, signal: signal() })).stdout.trim();
    return { session, directory };
  };
  const warm = await openBwrap('python', true, THREE_TESTS);
  const cold = await openBwrap('python', false, THREE_TESTS);
  const node = await openBwrap('javascript', false, NODE_THREE_TESTS);
  const nodeWarm = await openBwrap('javascript', true, NODE_THREE_TESTS);
  const timed = async (session: SandboxSession, suite: typeof THREE_TESTS, command: readonly string[]) => {
    await session.sync(suite, { signal: signal() });
    const started = performance.now();
    const result = await session.run(command, { timeoutMs: 120_000, signal: signal() });
    if (result.exitCode !== 0) throw new Error(`${command.join(' ')} through the runner exited ${result.exitCode}: ${result.stderr.slice(-500)}`);
    return performance.now() - started;
  };
  const hermeticEnv = HERMETIC_ENV;
  // What the runner hands node: an explicit environment, not the host's (where, e.g., NODE_EXTRA_CA_CERTS
  // makes every node process read a CA bundle at start-up).
  const nodeEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: node.directory, LANG: 'C.UTF-8' };
  const times = { bare: [] as number[], hermetic: [] as number[], warm: [] as number[], cold: [] as number[], node: [] as number[], nodeWarm: [] as number[], bareNode: [] as number[], bareNodeHermetic: [] as number[] };
  try {
    const steps: Array<[() => Promise<number>, number[]]> = [
      [() => bareCommand(PYTHON_PYTEST.command, warm.directory), times.bare],
      [() => timed(warm.session, THREE_TESTS, PYTHON_PYTEST.command), times.warm],
      [() => bareCommand([realPython, ...PYTHON_PYTEST.command.slice(1)], warm.directory, hermeticEnv), times.hermetic],
      [() => timed(cold.session, THREE_TESTS, PYTHON_PYTEST.command), times.cold],
      [() => bareCommand(NODE_COMMAND, node.directory), times.bareNode],
      [() => timed(node.session, NODE_THREE_TESTS, NODE_COMMAND), times.node],
      [() => timed(nodeWarm.session, NODE_THREE_TESTS, NODE_COMMAND), times.nodeWarm],
      [() => bareCommand(NODE_COMMAND, node.directory, nodeEnv), times.bareNodeHermetic],
    ];
    // Warm-up: cold caches, the first standby.
    for (const [measure] of steps) await measure();
    for (let round = 0; round < rounds; round += 1) {
      const order = [...steps.slice(round % steps.length), ...steps.slice(0, round % steps.length)];
      for (const [measure, into] of order) into.push(await measure());
    }
  } finally {
    await warm.session.close();
    await cold.session.close();
    await node.session.close();
    await nodeWarm.session.close();
  }
  const used = (warm.session as unknown as { warmRuns: number }).warmRuns;
  const nodeUsed = (nodeWarm.session as unknown as { warmRuns: number }).warmRuns;
  const m = (values: number[]) => median(values).toFixed(0).padStart(5);
  const ratio = median(times.warm) / median(times.bare);
  const fair = median(times.warm) / median(times.hermetic);
  const nodeRatio = median(times.node) / median(times.bareNode);
  const nodeWarmRatio = median(times.nodeWarm) / median(times.bareNode);
  const nodeWarmFair = median(times.nodeWarm) / median(times.bareNodeHermetic);
  console.log(`3 tests, medians of ${rounds} interleaved rounds, runner under bwrap:`);
  console.log(`  bare \`python3 -B -m pytest\` as the host runs it:    ${m(times.bare)} ms`);
  console.log(`  bare, hermetic (${realPython}, autoload off): ${m(times.hermetic)} ms`);
  console.log(`  runner, cold (warmPython: false):                ${m(times.cold)} ms`);
  console.log(`  runner, warm (default):                          ${m(times.warm)} ms (${used} of ${rounds + 1} runs warm)`);
  console.log(`RATIO python warm / bare (as the host runs it):     ${ratio.toFixed(3)}  (goal <= 0.25)`);
  console.log(`RATIO python warm / bare hermetic (the fair one):   ${fair.toFixed(3)}  (goal <= 0.25)`);
  console.log(`RATIO python cold / bare hermetic:                  ${(median(times.cold) / median(times.hermetic)).toFixed(3)}`);
  console.log(`  bare \`node --test\` with the preset's reporters:    ${m(times.bareNode)} ms`);
  console.log(`  runner, node, cold (warmNode: false):            ${m(times.node)} ms`);
  console.log(`  runner, node, warm (default):                    ${m(times.nodeWarm)} ms (${nodeUsed} of ${rounds + 1} runs warm)`);
  console.log(`  bare \`node --test\`, explicit env (PATH, HOME, LANG): ${m(times.bareNodeHermetic)} ms`);
  console.log(`RATIO node warm (bwrap) / bare node --test (same reporters), cold: ${nodeWarmRatio.toFixed(3)}  (goal <= 0.3)`);
  console.log(`RATIO node warm (bwrap) / bare node --test, explicit env:          ${nodeWarmFair.toFixed(3)}  (goal <= 0.3)`);
  console.log(`RATIO node cold runner / bare node --test:                         ${nodeRatio.toFixed(3)}`);
  console.log(`RATIO node cold runner / bare node --test, explicit env:           ${(median(times.node) / median(times.bareNodeHermetic)).toFixed(3)}`);
  reportResult({ name: 'local runner: warm run (bwrap) / bare pytest, 3 tests', value: ratio, unit: 'x', goal: '<= 0.25' });
  reportResult({ name: 'local runner: warm run (bwrap) / hermetic bare pytest, 3 tests', value: fair, unit: 'x', goal: '<= 0.25' });
  reportResult({ name: 'local runner: node run (bwrap, warm) / bare node --test, 3 tests', value: nodeWarmRatio, unit: 'x', goal: '<= 0.3' });
  reportResult({ name: 'local runner: node run (bwrap, warm) / bare node --test with the explicit env, 3 tests', value: nodeWarmFair, unit: 'x', goal: '<= 0.3' });
  reportResult({ name: 'local runner: node run (bwrap, cold) / bare node --test, 3 tests', value: nodeRatio, unit: 'x' });
}

try {
  await overhead();
  await dependencyReuse();
  await warmRuns();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
