/**
 * npm run bench — runs every benchmark, one after the other (they would disturb each other), shows
 * their output, and ends with one table of the headline figures, each next to its goal.
 */
import { spawn } from 'node:child_process';

const BENCHES = [
  { script: 'bench/overhead.ts', node: [] },
  { script: 'bench/overlap.ts', node: [] },
  { script: 'bench/candidates.ts', node: [] },
  { script: 'bench/load.ts', node: ['--expose-gc'] },
  { script: 'bench/cache.ts', node: [] },
  { script: 'bench/local-runner.ts', node: [] },
  { script: 'bench/test-output.ts', node: [] },
  { script: 'bench/daytona.ts', node: [] },
  { script: 'bench/eval.ts', node: [] },
];

interface Row {
  bench: string;
  name: string;
  value: number;
  unit: string;
  goal?: string;
  met?: boolean;
}

const rows: Row[] = [];
const failed: string[] = [];
for (const bench of BENCHES) {
  console.log(`\n━━ ${bench.script} ━━`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [...bench.node, '--import', 'tsx', bench.script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith('BENCH ')) rows.push({ bench: bench.script, ...(JSON.parse(line.slice(6)) as Omit<Row, 'bench'>) });
        else console.log(line);
      }
    });
    child.on('close', resolve);
  });
  if (code !== 0) failed.push(`${bench.script} exited with ${code}`);
}

console.log('\n━━ summary (ratios from one run each; shared, noisy machines: compare ratios, not times) ━━');
const width = Math.max(...rows.map((row) => row.name.length), 10);
for (const row of rows) {
  const value = `${Number.isInteger(row.value) ? row.value : row.value.toFixed(3)} ${row.unit}`.padEnd(16);
  const goal = row.goal ? `goal ${row.goal}`.padEnd(14) : ''.padEnd(14);
  const verdict = row.met === undefined ? '' : row.met ? 'met' : 'NOT met';
  console.log(`${row.name.padEnd(width)}  ${value}${goal}${verdict}`);
}
for (const failure of failed) console.log(`FAILED: ${failure}`);
if (failed.length > 0) process.exitCode = 1;
