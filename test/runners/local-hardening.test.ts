import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { defaultCacheDirectory, prepareCacheDirectory } from '../../src/runners/local/dependencies.js';
import { bubblewrapArguments, toolchainDirectories } from '../../src/runners/local/isolation.js';
import { KILL_GRACE_MS, runProcess } from '../../src/runners/local/process.js';
import { HAS_BWRAP, quietRunner, signal, SKIP_BWRAP, withSession } from './local-helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'ptc-local-hardening-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const IS_ROOT = process.getuid?.() === 0;
if (!IS_ROOT) console.warn('[local hardening tests] not running as root: the capability, foreign-owner and frozen-process tests are SKIPPED.');

/** Settles within `ms` or says it did not: a blocked open() must fail the test, not hang it. */
function settles(promise: Promise<unknown>, ms = 3_000): Promise<string> {
  return Promise.race([
    promise.then(
      () => 'resolved',
      (error: { code?: string }) => `rejected ${error.code ?? ''}`.trim(),
    ),
    new Promise<string>((resolve) => setTimeout(() => resolve('STILL BLOCKED'), ms)),
  ]);
}

describe.skipIf(SKIP_BWRAP || !IS_ROOT)(`as root under bwrap, the command has no capabilities${SKIP_BWRAP || !IS_ROOT ? ' (SKIPPED: needs root and bwrap)' : ''}`, () => {
  const { runner } = quietRunner({ isolation: 'bwrap' });

  test('CapEff is 0, masks cannot be unmounted and / cannot be remounted read-write', async () => {
    // Something of the host's /root that the jail does not re-expose (toolchains are).
    const hidden = readdirSync('/root').find((name) => !['.pyenv', '.cargo', '.nvm'].includes(name));
    const escaped = join(scratch, `escaped-${randomBytes(4).toString('hex')}`);
    await withSession(runner, 'python', async (session) => {
      const status = await session.run(['cat', '/proc/self/status'], { timeoutMs: 10_000, signal: signal() });
      expect(status.stdout).toMatch(/^CapEff:\s+0+$/m);
      const result = await session.run(
        [
          'sh',
          '-c',
          `umount -l /root && echo UNMOUNTED-ROOT; echo "ROOT: $(ls -a /root | tr '\\n' ' ')"; umount -l /tmp && echo UNMOUNTED-TMP; mount -o remount,rw,bind / && echo REMOUNTED; touch ${escaped} && echo WROTE-HOST-FILE; touch probe-in-workspace && echo WORKSPACE-WRITABLE`,
        ],
        { timeoutMs: 10_000, signal: signal() },
      );
      expect(result.stdout).not.toMatch(/UNMOUNTED-ROOT|UNMOUNTED-TMP|REMOUNTED|WROTE-HOST-FILE/);
      if (hidden) expect(result.stdout.split('\n').find((line) => line.startsWith('ROOT:'))?.split(' ')).not.toContain(hidden);
      // Root without capabilities still writes the workspace it owns.
      expect(result.stdout).toContain('WORKSPACE-WRITABLE');
    });
    expect(existsSync(escaped)).toBe(false);
  });
});

describe('toolchains on PATH are re-exposed without their home', () => {
  // A fake /home with alice (the host user) and bob, each with credentials next to toolchains.
  const home = join(scratch, 'home');
  const alice = join(home, 'alice');
  const bob = join(home, 'bob');
  for (const directory of [
    join(alice, '.ssh'),
    join(alice, '.aws'),
    join(alice, '.local', 'bin'),
    join(alice, '.local', 'share', 'keyrings'),
    join(alice, '.pyenv', 'shims'),
    join(alice, '.pyenv', 'versions', '3.12.0', 'bin'),
    join(alice, '.nvm', 'versions', 'node', 'v20.0.0', 'bin'),
    join(alice, 'bin'),
    join(bob, '.ssh'),
    join(bob, '.cargo', 'bin'),
  ]) {
    mkdirSync(directory, { recursive: true });
  }
  writeFileSync(join(alice, '.bashrc'), '');
  const masks = [home, '/root', join(scratch, 'tmp'), alice];

  const exposed = (path: string) => toolchainDirectories(path, masks, [home]);

  test('~/.local/bin exposes only itself, never the home or ~/.local', () => {
    expect(exposed(join(alice, '.local', 'bin'))).toEqual([join(alice, '.local', 'bin')]);
  });

  test('pyenv shims expose ~/.pyenv (the interpreters live in ~/.pyenv/versions), nvm ~/.nvm', () => {
    expect(exposed(`${join(alice, '.pyenv', 'shims')}:${join(alice, '.nvm', 'versions', 'node', 'v20.0.0', 'bin')}`)).toEqual([
      join(alice, '.pyenv'),
      join(alice, '.nvm'),
    ]);
  });

  test('~/bin exposes itself; a home itself, another user\'s home and credentials directories never', () => {
    expect(exposed(join(alice, 'bin'))).toEqual([join(alice, 'bin')]);
    expect(exposed(`${alice}:${bob}:${join(alice, '.ssh')}:${join(alice, '.aws', 'bin')}:${home}`)).toEqual([]);
    // Another user's toolchain is still found through the most specific mask (/home).
    expect(exposed(join(bob, '.cargo', 'bin'))).toEqual([join(bob, '.cargo')]);
  });

  test('without the home among the masks, the entry still never exposes the whole home', () => {
    expect(toolchainDirectories(join(alice, '.local', 'bin'), [home], [home])).toEqual([join(alice, '.local', 'bin')]);
  });

  test('nothing visible through a mask contains a credentials directory', () => {
    const all = exposed(
      [join(alice, '.local', 'bin'), join(alice, '.pyenv', 'shims'), join(alice, 'bin'), join(bob, '.cargo', 'bin'), '/usr/bin'].join(':'),
    );
    for (const directory of all) expect(readdirSync(directory)).not.toContain('.ssh');
    expect(all.some((directory) => directory === alice || directory === join(alice, '.local'))).toBe(false);
  });
});

describe.skipIf(SKIP_BWRAP || !IS_ROOT)(`installs (network on) do not see /run${SKIP_BWRAP || !IS_ROOT ? ' (SKIPPED: needs root and bwrap)' : ''}`, () => {
  test('a file planted in the host /run is invisible, resolv.conf stays readable', () => {
    const marker = `/run/ptc-hardening-marker-${randomBytes(4).toString('hex')}`;
    writeFileSync(marker, 'daemon socket stand-in');
    try {
      const workspace = mkdtempSync(join(scratch, 'install-'));
      const args = bubblewrapArguments({ workspace, readOnlyPaths: [], writablePaths: [], network: true, hostPath: process.env.PATH ?? '/usr/bin:/bin' });
      const output = execFileSync('bwrap', [...args, 'sh', '-c', 'ls -a /run; echo ---; cat /etc/resolv.conf'], { encoding: 'utf8', timeout: 10_000 });
      const [run, resolv] = output.split('---');
      expect(run).not.toContain(marker.slice('/run/'.length));
      expect(resolv?.trim()).toBe(execFileSync('cat', ['/etc/resolv.conf'], { encoding: 'utf8' }).trim());
    } finally {
      rmSync(marker, { force: true });
    }
  });
});

describe('a FIFO planted in the workspace does not block the host', () => {
  const { runner } = quietRunner({ isolation: HAS_BWRAP ? 'bwrap' : 'none' });

  test('readFile and writeFiles settle, and unrelated fs calls still complete', async () => {
    await withSession(runner, 'python', async (session) => {
      // Planted by a real command, as test code would at exit (os.mkfifo('.ptc/junit.xml')).
      const plant = await session.run(['sh', '-c', 'mkdir -p .ptc && mkfifo .ptc/junit.xml calc.py a b c d && pwd'], { timeoutMs: 10_000, signal: signal() });
      expect(plant.exitCode).toBe(0);
      const root = plant.stdout.trim();
      const outcomes: string[] = [];
      const observe = async (promise: Promise<unknown>) => {
        const outcome = await settles(promise);
        outcomes.push(outcome);
        return outcome;
      };
      try {
        expect(await observe(session.readFile('.ptc/junit.xml', { signal: signal() }))).toMatch(/^(resolved|rejected)/);
        expect(await observe(session.sync([{ path: 'calc.py', content: 'def add(a, b):\n    return a + b\n' }], { signal: signal() }))).toMatch(/^(resolved|rejected)/);
        // Four more at once would take every libuv threadpool thread if opens blocked.
        const more = await Promise.all(['a', 'b', 'c', 'd'].map((path) => observe(session.readFile(path, { signal: signal() }))));
        for (const outcome of more) expect(outcome).toMatch(/^(resolved|rejected)/);
        expect(await settles(readFile(join(import.meta.dirname, 'local-helpers.ts'), 'utf8'))).toBe('resolved');
        // The written source replaced the FIFO: it is a regular file with the new content.
        expect(await session.readFile('calc.py', { signal: signal() })).toContain('return a + b');
      } finally {
        // Without the fix, opens stay blocked in the threadpool: open the other ends to free them.
        for (const name of outcomes.includes('STILL BLOCKED') ? ['.ptc/junit.xml', 'calc.py', 'a', 'b', 'c', 'd'] : []) {
          try {
            if (statSync(join(root, name)).isFIFO()) {
              execFileSync('sh', ['-c', 'timeout 1 sh -c "echo > \\"$0\\"" "$0"; timeout 1 cat "$0" > /dev/null', join(root, name)], { stdio: 'ignore', timeout: 5_000 });
            }
          } catch {
            // Gone or not a FIFO any more.
          }
        }
      }
    });
  }, 30_000);
});

describe('the dependency cache directory must be private to this user', () => {
  test('the default is per user', () => {
    expect(defaultCacheDirectory()).toBe(join(tmpdir(), `ptc-agent-deps-${process.getuid?.() ?? 'user'}`));
  });

  test('a missing cache directory is created with mode 0700', async () => {
    const path = join(scratch, 'fresh-cache', 'nested');
    const resolved = await prepareCacheDirectory(path);
    expect(statSync(resolved).mode & 0o777).toBe(0o700);
  });

  test('a cache directory writable by others is refused at open, before any install', async () => {
    const cacheDirectory = join(scratch, 'world-writable-cache');
    mkdirSync(cacheDirectory);
    chmodSync(cacheDirectory, 0o777);
    const { runner } = quietRunner({ isolation: 'none', cacheDirectory, installEnv: { PIP_NO_INDEX: '1' } });
    const opening = runner.open({ executionId: 'cache-777', language: 'python', dependencies: ['ptc-demo-alpha'], env: {}, signal: signal() });
    await expect(opening).rejects.toMatchObject({ code: 'SANDBOX_OPEN_FAILED', message: expect.stringMatching(/writable by group or others/) });
    expect(readdirSync(cacheDirectory)).toEqual([]);
  }, 30_000);

  test.skipIf(!IS_ROOT)(`a cache directory owned by another user is refused${IS_ROOT ? '' : ' (SKIPPED: chown needs root)'}`, async () => {
    const cacheDirectory = join(scratch, 'foreign-cache');
    mkdirSync(cacheDirectory, { mode: 0o700 });
    chownSync(cacheDirectory, 65534, 65534);
    await expect(prepareCacheDirectory(cacheDirectory)).rejects.toMatchObject({ code: 'SANDBOX_OPEN_FAILED', message: expect.stringMatching(/owned by uid 65534/) });
    const { runner } = quietRunner({ isolation: 'none', cacheDirectory, installEnv: { PIP_NO_INDEX: '1' } });
    const opening = runner.open({ executionId: 'cache-foreign', language: 'python', dependencies: ['ptc-demo-alpha'], env: {}, signal: signal() });
    await expect(opening).rejects.toMatchObject({ code: 'SANDBOX_OPEN_FAILED', message: expect.stringMatching(/owned by uid 65534/) });
  }, 30_000);
});

// cgroup v1 freezer: a frozen task does not die at SIGKILL until thawed, like one stuck in the kernel.
const FREEZER = '/sys/fs/cgroup/freezer';
const CAN_FREEZE = IS_ROOT && existsSync(join(FREEZER, 'cgroup.procs'));
if (!CAN_FREEZE) console.warn('[local hardening tests] no writable cgroup v1 freezer: the "process that does not die" test is SKIPPED.');

describe.skipIf(!CAN_FREEZE)(`a timed-out process that does not die still settles${CAN_FREEZE ? '' : ' (SKIPPED: needs root and a cgroup v1 freezer)'}`, () => {
  test('the result arrives with timedOut: true shortly after the kill', async () => {
    const group = join(FREEZER, `ptc-hardening-${process.pid}-${randomBytes(4).toString('hex')}`);
    mkdirSync(group);
    try {
      const running = runProcess(['sh', '-c', 'echo $$ > "$0/cgroup.procs" && echo FROZEN > "$0/freezer.state"; sleep 60', group], {
        cwd: scratch,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        timeoutMs: 500,
        signal: signal(),
        maxOutputBytes: 10_000,
      });
      const outcome = await Promise.race([
        running.then((result) => result),
        new Promise<'STILL PENDING'>((resolve) => setTimeout(() => resolve('STILL PENDING'), 500 + KILL_GRACE_MS + 4_000)),
      ]);
      expect(outcome).toMatchObject({ timedOut: true, exitCode: null });
    } finally {
      try {
        writeFileSync(join(group, 'freezer.state'), 'THAWED');
      } catch {
        // Never froze.
      }
      for (let attempt = 0; attempt < 50; attempt += 1) {
        try {
          rmdirSync(group);
          break;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    }
  }, 20_000);
});
