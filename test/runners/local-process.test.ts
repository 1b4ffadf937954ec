import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { launchProcess } from '../../src/runners/local/process.js';

const options = { cwd: process.cwd(), env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, maxOutputBytes: 1024 };

/** Whether the system still lists `pid` as a process that has not ended (a zombie has ended). */
function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('launchProcess', () => {
  test('waitForExit resolves once a killed process is gone, not merely signalled', async () => {
    for (let round = 0; round < 20; round += 1) {
      const launched = launchProcess(['sleep', '30'], options);
      const pid = launched.pid!;
      expect(alive(pid)).toBe(true);
      launched.kill();
      await launched.waitForExit(5_000);
      expect(launched.exited).toBe(true);
      expect(alive(pid)).toBe(false);
    }
  });

  test('waitForExit gives up after timeoutMs on a process nobody killed', async () => {
    const launched = launchProcess(['sleep', '30'], options);
    await launched.waitForExit(50);
    expect(launched.exited).toBe(false);
    launched.kill();
    await launched.waitForExit(5_000);
    expect(launched.exited).toBe(true);
  });
});
