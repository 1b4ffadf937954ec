import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { ROOT, runCLI, temporaryDirectory } from './helpers.js';

/**
 * What a user gets: build, `npm pack`, install the tarball into a fresh directory, `npx ptc-agent
 * demo`. The install may reach the registry (`--prefer-offline`): `npm ci` caches tarballs but not
 * the metadata an install of a tarball resolves its dependencies with, so `--offline` fails with
 * ENOTCACHED on a clean cache. The demo then runs offline for real: where `unshare -rn` works, in a
 * network namespace with no network at all, so "offline" is checked, not assumed.
 */
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.map((cleanup) => cleanup()));
});

function canUnshareNetwork(): boolean {
  try {
    execFileSync('unshare', ['-rn', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('npm pack → install the tarball in a fresh directory → npx ptc-agent demo, offline', { timeout: 600_000 }, async () => {
  const work = await temporaryDirectory('ptc-pack-');
  cleanups.push(work.remove);
  execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe', timeout: 300_000 });
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work.path], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 })) as Array<{
    filename: string;
    files: Array<{ path: string }>;
  }>;
  const tarball = join(work.path, packed[0]!.filename);
  // The bin is in the tarball, and nothing the demo needs lives outside dist/.
  expect(packed[0]!.files.map((file) => file.path)).toContain('dist/cli.js');
  expect(packed[0]!.files.every((file) => file.path.startsWith('dist/') || ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE'].includes(file.path))).toBe(true);

  const app = join(work.path, 'app');
  execFileSync('mkdir', ['-p', app]);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], { cwd: app, stdio: 'pipe', timeout: 300_000 });
  const offline = canUnshareNetwork();
  if (!offline) console.warn('SKIPPED part: `unshare -rn` is not available; the demo runs with the network reachable (it makes no call, but that is not checked)');
  const wrap = (command: string[]) => (offline ? ['unshare', '-rn', ...command] : command);
  const manifest = JSON.parse(await readFile(join(app, 'node_modules/ptc-agent/package.json'), 'utf8')) as { bin: Record<string, string> };
  expect(String(manifest.bin['ptc-agent']).replace(/^\.\//, '')).toBe('dist/cli.js');
  // The terminal library is bundled into dist/: installing ptc-agent does not install it.
  expect(() => execFileSync('node', ['-e', "require.resolve('ora')"], { cwd: app, stdio: 'ignore' })).toThrow();

  const tmp = await temporaryDirectory('ptc-pack-tmp-');
  cleanups.push(tmp.remove);
  const demo = await runCLI(['demo'], { cwd: app, env: { TMPDIR: tmp.path }, command: wrap(['npx', '--offline', '--no-install', 'ptc-agent']), killAfterMs: 300_000 });
  expect(demo.stderr).toContain('SCRIPTED');
  expect(demo.code).toBe(0);
  expect(demo.stdout).toMatch(/^success \(tests_passed\) after 2 iterations/);

  // The Anthropic SDK is not installed here; the missing key is still what the user hears first.
  const run = await runCLI(['run', 'plan.json'], { cwd: app, env: { TMPDIR: tmp.path }, command: wrap(['npx', '--offline', '--no-install', 'ptc-agent']), killAfterMs: 120_000 });
  expect(run.stderr).toContain('ANTHROPIC_API_KEY is not set');
  expect(run.code).toBe(2);
  const sdk = await runCLI(['run', 'plan.json'], {
    cwd: app,
    env: { TMPDIR: tmp.path, ANTHROPIC_API_KEY: 'sk-ant-test-not-a-key' },
    command: wrap(['npx', '--offline', '--no-install', 'ptc-agent']),
    killAfterMs: 120_000,
  });
  expect(sdk.stderr).toContain('npm install @anthropic-ai/sdk');
  expect(sdk.code).toBe(2);
});
