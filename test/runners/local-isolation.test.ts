import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalIsolation } from '../../src/runners/local.js';
import { processesWith, quietRunner, signal, SKIP_BWRAP, withSession } from './local-helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'ptc-local-isolation-test-'));
const secretFile = join(scratch, 'planted-secret.txt');
const SECRET = 'ptc-planted-secret-7f3a9c';
let server: Server;
let port = 0;

beforeAll(async () => {
  writeFileSync(secretFile, SECRET);
  // A listener on loopback: the only kind of network target these tests use.
  server = createServer((socket) => socket.end('hello from the host\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(scratch, { recursive: true, force: true });
});

const connectScript = () =>
  `import socket\ns = socket.create_connection(("127.0.0.1", ${port}), timeout=3)\nprint(s.recv(100).decode())\n`;

describe.skipIf(SKIP_BWRAP)(`under bwrap${SKIP_BWRAP ? ' (SKIPPED: bwrap missing)' : ''}`, () => {
  const { runner } = quietRunner({ isolation: 'bwrap' });

  test('a network connection attempt fails during tests', async () => {
    await withSession(runner, 'python', async (session) => {
      await session.sync([{ path: 'connect.py', content: connectScript() }], { signal: signal() });
      const result = await session.run(['python3', 'connect.py'], { timeoutMs: 15_000, signal: signal() });
      expect(result.exitCode).not.toBe(0);
      expect(result.stdout).not.toContain('hello from the host');
      expect(result.stderr).toMatch(/Error/);
    });
  });

  test('a planted secret outside the workspace cannot be read', async () => {
    await withSession(runner, 'python', async (session) => {
      const read = await session.run(['cat', secretFile], { timeoutMs: 10_000, signal: signal() });
      expect(read.exitCode).not.toBe(0);
      expect(read.stdout + read.stderr).not.toContain(SECRET);
      // Homes are masked: no dotfiles with credentials (.ssh, .npmrc, .aws) are visible.
      const homes = await session.run(['sh', '-c', 'ls -a /root /home 2>&1'], { timeoutMs: 10_000, signal: signal() });
      expect(homes.stdout).not.toMatch(/\.npmrc|\.ssh|\.aws/);
    });
  });

  test('writing outside the workspace fails: the system is read-only and /tmp is private', async () => {
    const target = join(scratch, 'escaped.txt');
    await withSession(runner, 'python', async (session) => {
      const result = await session.run(['sh', '-c', `echo x > ${target}; echo y > /usr/ptc-escape; echo z > /tmp/private.txt && echo wrote-private-tmp`], {
        timeoutMs: 10_000,
        signal: signal(),
      });
      expect(result.stderr).toMatch(/Read-only file system|No such file or directory|Permission denied/);
      expect(result.stdout).toContain('wrote-private-tmp');
    });
    expect(existsSync(target)).toBe(false);
    expect(existsSync('/usr/ptc-escape')).toBe(false);
    expect(existsSync('/tmp/private.txt')).toBe(false);
  });

  test('commands see their own PID namespace', async () => {
    await withSession(runner, 'python', async (session) => {
      const result = await session.run(['sh', '-c', 'ls /proc | grep -c "^[0-9]"'], { timeoutMs: 10_000, signal: signal() });
      expect(Number(result.stdout.trim())).toBeLessThan(10);
    });
  });
});

describe('without a jail (isolation none) the same probes succeed, so the bwrap cases can fail', () => {
  const { runner } = quietRunner({ isolation: 'none' });

  test('the network and the planted secret are reachable', async () => {
    await withSession(runner, 'python', async (session) => {
      await session.sync([{ path: 'connect.py', content: connectScript() }], { signal: signal() });
      const connected = await session.run(['python3', 'connect.py'], { timeoutMs: 15_000, signal: signal() });
      expect(connected.stdout).toContain('hello from the host');
      const read = await session.run(['cat', secretFile], { timeoutMs: 10_000, signal: signal() });
      expect(read.stdout).toContain(SECRET);
    });
  });
});

const isolations: LocalIsolation[] = SKIP_BWRAP ? ['none'] : ['none', 'bwrap'];

describe.each(isolations)('limits on every run (isolation %s)', (isolation) => {
  test('a fork bomb is contained by the process limit and cleaned up', async () => {
    const { runner, warnings } = quietRunner({ isolation, maxProcesses: 64 });
    await runner.effectiveIsolation();
    if (warnings.some((message) => message.includes('process limit'))) {
      console.warn(`[local runner tests] SKIPPED the fork bomb (${isolation}): ${warnings.join(' ')}`);
      return;
    }
    await withSession(runner, 'python', async (session) => {
      await session.sync(
        [{ path: 'forkbomb_marker.py', content: 'import os\nfailed = 0\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        failed += 1\n        if failed > 1000:\n            os._exit(3)\n' }],
        { signal: signal() },
      );
      const result = await session.run(['python3', 'forkbomb_marker.py'], { timeoutMs: 4_000, signal: signal() });
      // Either every branch gave up (exit 3) or the clock killed the tree; never a hung machine.
      expect(result.timedOut || result.exitCode === 3).toBe(true);
    });
    expect(processesWith('forkbomb_marker.py')).toEqual([]);
  });

  test('200 MB on stdout are truncated and our memory stays flat', async () => {
    const { runner } = quietRunner({ isolation, maxOutputBytes: 64 * 1024 });
    await withSession(runner, 'python', async (session) => {
      const script = 'import sys\nchunk = b"x" * (1 << 20)\nfor _ in range(200):\n    sys.stdout.buffer.write(chunk)\nsys.stdout.buffer.write(b"THE-END\\n")\n';
      await session.sync([{ path: 'flood.py', content: script }], { signal: signal() });
      const before = process.memoryUsage().rss;
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 10);
      try {
        const result = await session.run(['python3', 'flood.py'], { timeoutMs: 60_000, signal: signal() });
        expect(result).toMatchObject({ exitCode: 0, timedOut: false, stdoutTruncated: true });
        expect(result.stdout.length).toBeLessThan(70 * 1024);
        expect(result.stdout).toContain('bytes omitted');
        // The tail is kept: runners print their summary last.
        expect(result.stdout.trimEnd().endsWith('THE-END')).toBe(true);
      } finally {
        clearInterval(sampler);
      }
      expect(peak - before).toBeLessThan(100 * 1024 * 1024);
    });
  });

  test('memory, CPU and file size limits apply to the command', async () => {
    const { runner } = quietRunner({ isolation, maxMemoryBytes: 256 * 1024 ** 2, maxCpuSeconds: 1, maxFileSizeBytes: 1024 * 1024 });
    await withSession(runner, 'python', async (session) => {
      const memory = await session.run(['python3', '-c', 'x = bytearray(1024 ** 3)'], { timeoutMs: 20_000, signal: signal() });
      expect(memory.exitCode).not.toBe(0);
      expect(memory.stderr).toContain('MemoryError');

      const cpu = await session.run(['python3', '-c', 'while True: pass'], { timeoutMs: 20_000, signal: signal() });
      expect(cpu.timedOut).toBe(false);
      // Killed by the kernel, not the clock: directly (null) or as bwrap reports it (128 + 24).
      expect(cpu.exitCode === null || cpu.exitCode === 152).toBe(true);
      expect(cpu.stderr).toContain('SIGXCPU');

      const file = await session.run(['python3', '-c', 'open("big.bin", "wb").write(b"x" * (4 * 1024 * 1024))'], { timeoutMs: 20_000, signal: signal() });
      expect(file.exitCode).not.toBe(0);
      expect(file.stderr).toMatch(/SIGXFSZ|File too large/);
    });
  });
});
