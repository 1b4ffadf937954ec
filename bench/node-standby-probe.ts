/**
 * Why node runs stay cold (issue 16): what a warm node standby could save at best on Node 20.
 * A process started ahead of time, already past node's start and `node:test`'s loading, is
 * handed the test files and calls `run()` from node:test with the preset's reporters — the
 * closest a standby gets to `node --test` without an in-process mode (`--test-isolation=none` is
 * Node 22+). It still spawns one process per test file, as `--test` does. Timed from the request
 * to the standby's exit, against bare `node --test` with the preset's reporters in the same
 * directory, interleaved, medians. No runner, no jail: the best case for the standby.
 *
 *   npx tsx bench/node-standby-probe.ts [rounds]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JAVASCRIPT_NODE_TEST } from '../src/reports/presets.js';
import { reportResult } from './result.js';

const rounds = Number(process.argv[2] ?? 10);
const directory = mkdtempSync(join(tmpdir(), 'ptc-node-probe-'));
mkdirSync(join(directory, 'src'));
mkdirSync(join(directory, 'test'));
mkdirSync(join(directory, '.ptc'));
writeFileSync(join(directory, 'package.json'), '{ "type": "module" }\n');
writeFileSync(join(directory, 'src/calc.js'), 'export const add = (a, b) => a + b;\n');
writeFileSync(
  join(directory, 'test/calc.test.js'),
  ["import { test } from 'node:test';", "import assert from 'node:assert/strict';", "import { add } from '../src/calc.js';", ...[0, 1, 2].map((index) => `test('case ${index}', () => assert.equal(add(${index}, 1), ${index + 1}));`)].join('\n'),
);
writeFileSync(
  join(directory, 'standby.mjs'),
  `import { run } from 'node:test';
import { spec, junit } from 'node:test/reporters';
import { createWriteStream } from 'node:fs';
process.stdin.once('data', async (data) => {
  const stream = run({ files: JSON.parse(String(data)) });
  let failed = false;
  stream.on('test:fail', () => { failed = true; });
  const out = stream.compose(spec);
  out.pipe(process.stdout);
  stream.compose(junit).pipe(createWriteStream('.ptc/junit.xml'));
  await new Promise((resolve) => out.on('end', resolve));
  process.exitCode = failed ? 1 : 0;
  process.stdin.destroy();
});
`,
);

const exited = (child: ReturnType<typeof spawn>) => new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`)))));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function standby(): Promise<number> {
  const child = spawn('node', ['standby.mjs'], { cwd: directory, stdio: ['pipe', 'ignore', 'inherit'] });
  const done = exited(child);
  // Loaded well before the request, as a standby started while the model writes would be.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const started = performance.now();
  child.stdin!.write(JSON.stringify(['test/calc.test.js']));
  await done;
  return performance.now() - started;
}

async function bare(): Promise<number> {
  const started = performance.now();
  await exited(spawn('node', [...JAVASCRIPT_NODE_TEST.command.slice(1), 'test/calc.test.js'], { cwd: directory, stdio: 'ignore' }));
  return performance.now() - started;
}

try {
  const times = { standby: [] as number[], bare: [] as number[] };
  await bare();
  for (let round = 0; round < rounds; round += 1) {
    const steps: Array<[() => Promise<number>, number[]]> = [[standby, times.standby], [bare, times.bare]];
    if (round % 2) steps.reverse();
    for (const [measure, into] of steps) into.push(await measure());
  }
  const ratio = median(times.standby) / median(times.bare);
  console.log(`bare node --test (median of ${rounds}):           ${median(times.bare).toFixed(0)} ms`);
  console.log(`standby calling run(), request to exit:       ${median(times.standby).toFixed(0)} ms`);
  console.log(`RATIO node standby (best case) / bare:        ${ratio.toFixed(3)}  (issue 16's node goal <= 0.3)`);
  reportResult({ name: 'node standby probe (not shipped): run() in a pre-started process / bare node --test', value: ratio, unit: 'x', goal: '<= 0.3' });
} finally {
  rmSync(directory, { recursive: true, force: true });
}
