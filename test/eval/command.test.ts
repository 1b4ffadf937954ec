import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { runCommand } from '../../src/eval/command.js';
import { loadSuite, readReport } from '../../src/eval/index.js';
import { FAST_PYTEST_ENV } from './helpers.js';

const directory = mkdtempSync(join(tmpdir(), 'ptc-eval-cli-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

function io(options: { tty?: boolean; env?: Record<string, string> } = {}) {
  let stdout = '';
  let stderr = '';
  return {
    io: {
      stdout: { write: (text: string) => (stdout += text), isTTY: options.tty ?? false, columns: 200 },
      stderr: { write: (text: string) => (stderr += text) },
      env: options.env ?? {},
    },
    stdout: () => stdout,
    stderr: () => stderr,
  };
}

const suitePath = join(directory, 'suite.jsonl');
writeFileSync(
  suitePath,
  [0, 1, 2]
    .map((index) =>
      JSON.stringify({
        id: `demo/${index}`,
        prompt: `Write triple_${index}(x) returning 3 * x.`,
        language: 'python',
        entry_point: `triple_${index}`,
        test: `from solution import triple_${index}\n\n\ndef test_triple():\n    assert triple_${index}(${index}) == ${3 * index}\n`,
        reference: `def triple_${index}(x):\n    return 3 * x\n`,
      }),
    )
    .join('\n'),
);
const sandboxEnv = Object.entries(FAST_PYTEST_ENV).flatMap(([key, value]) => ['--sandbox-env', `${key}=${value}`]);

describe('ptc-eval', () => {
  test('usage errors exit 2 and say what is wrong', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /a suite file is required/],
      [[suitePath], /no generator: set ANTHROPIC_API_KEY .* or pass --generator reference\|repair\|cheat/],
      [[suitePath, '--generator', 'gpt'], /--generator must be one of anthropic, reference, repair, cheat/],
      [[suitePath, '--generator', 'reference', '--limit=-3'], /--limit must be an integer >= 0/],
      [[suitePath, '--generator', 'reference', '--concurrency', '1.5'], /--concurrency must be an integer >= 1/],
      [[suitePath, '--generator', 'reference', '--max-cost', 'free'], /--max-cost must be a positive number/],
      [[suitePath, '--generator', 'cheat', '--model', 'x'], /--model applies to --generator anthropic only/],
      [[suitePath, '--generator', 'cheat', '--filter', '('], /--filter is not a regular expression/],
      [[suitePath, '--generator', 'cheat', '--sandbox-env', 'NOPE'], /--sandbox-env must be KEY=VALUE/],
      [[suitePath, '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [argv, message] of cases) {
      const run = io();
      expect(await runCommand(argv, run.io)).toBe(2);
      expect(run.stderr()).toMatch(message);
    }
  });

  test('convert writes the generic format, which loads back to the same problems', async () => {
    const out = join(directory, 'converted.jsonl');
    const run = io();
    expect(await runCommand(['convert', suitePath, out], run.io)).toBe(0);
    expect(run.stdout()).toContain('wrote 3 problem(s)');
    expect((await loadSuite(out)).problems).toEqual((await loadSuite(suitePath)).problems);
  });

  test('a malformed suite is an error naming the line', async () => {
    const bad = join(directory, 'bad.jsonl');
    writeFileSync(bad, `${readFileSync(suitePath, 'utf8').split('\n')[0]}\n{"id": 1}\n`);
    const run = io();
    expect(await runCommand([bad, '--generator', 'reference', '--report', join(directory, 'never.json')], run.io)).toBe(1);
    expect(run.stderr()).toMatch(/bad\.jsonl: 1 problem\(s\):\n\s+line 2: "id"/);
  });

  test('run, refuse to overwrite, resume: the report holds every problem once, and the progress line only on a TTY', { timeout: 60_000 }, async () => {
    const report = join(directory, 'out', 'report.json');
    const first = io({ tty: false });
    expect(await runCommand(['run', suitePath, '--generator', 'reference', '--limit', '2', '--report', report, ...sandboxEnv], first.io)).toBe(0);
    expect(first.stdout()).not.toContain('\r');
    expect(first.stdout()).toMatch(/held-out pass@1\s+2\/2 \(100\.0%\)/);
    expect((await readReport(report))!.rows.map((row) => row.id)).toEqual(['demo/0', 'demo/1']);

    const refused = io();
    expect(await runCommand([suitePath, '--generator', 'reference', '--report', report], refused.io)).toBe(2);
    expect(refused.stderr()).toContain('pass --resume to continue it');

    const resumed = io({ tty: true });
    expect(await runCommand([suitePath, '--generator', 'reference', '--report', report, '--resume', ...sandboxEnv], resumed.io)).toBe(0);
    expect(resumed.stdout()).toContain('\r\x1b[K[2/3] pass@1 2 (100.0%)'); // the resumed rows count from the start
    expect(resumed.stdout()).toMatch(/\[3\/3\] pass@1 3 \(100\.0%\)/);
    const final = (await readReport(report))!;
    expect(final.rows.map((row) => row.id)).toEqual(['demo/0', 'demo/1', 'demo/2']);
    expect(final.complete).toBe(true);
    expect(readFileSync(join(directory, 'out', 'report.md'), 'utf8')).toContain('| demo/2 | pass | green |');
  });
});
