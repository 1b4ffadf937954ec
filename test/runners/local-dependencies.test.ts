import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { DependenciesInstalledInfo } from '../../src/contracts/sandbox-runner.js';
import { dependencyKey } from '../../src/runners/local/dependencies.js';
import { quietRunner, signal } from './local-helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'ptc-local-deps-test-'));
const wheelhouse = join(scratch, 'wheelhouse');

/** Builds a tiny pure-Python wheel, so installs are real pip installs without any index. */
function buildWheel(name: string, version: string, value: number): void {
  const module = name.replaceAll('-', '_');
  const script = `
import sys, zipfile, os
out, module, name, version, value = sys.argv[1:6]
os.makedirs(out, exist_ok=True)
info = f"{module}-{version}.dist-info"
files = {
  f"{module}/__init__.py": f"VALUE = {value}\\n",
  f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
  f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: ptc-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
files[f"{info}/RECORD"] = "".join(f"{path},,\\n" for path in files) + f"{info}/RECORD,,\\n"
with zipfile.ZipFile(os.path.join(out, f"{module}-{version}-py3-none-any.whl"), "w") as archive:
    for path, content in files.items():
        archive.writestr(path, content)
`;
  execFileSync('python3', ['-c', script, wheelhouse, module, name, version, String(value)]);
}

beforeAll(() => {
  buildWheel('ptc-demo-alpha', '1.0', 41);
  buildWheel('ptc-demo-beta', '2.0', 42);
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const offlinePip = { PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheelhouse };

describe('dependencies are installed at open and reused by the dependency set', () => {
  test('the key ignores order and duplicates, and separates ecosystems', () => {
    expect(dependencyKey('python', ['b', 'a', 'a'])).toBe(dependencyKey('python', ['a', 'b']));
    expect(dependencyKey('python', ['a'])).not.toBe(dependencyKey('node', ['a']));
    expect(dependencyKey('python', ['a'])).not.toBe(dependencyKey('python', ['a', 'b']));
  });

  test('pip installs into the cache, tests import it, and a second open reuses it', async () => {
    const cacheDirectory = join(scratch, 'cache-reuse');
    const { runner } = quietRunner({ cacheDirectory, installEnv: offlinePip, readOnlyPaths: [wheelhouse] });
    const infos: DependenciesInstalledInfo[] = [];
    for (const dependencies of [['ptc-demo-alpha', 'ptc-demo-beta'], ['ptc-demo-beta', 'ptc-demo-alpha']]) {
      const session = await runner.open({
        executionId: 'deps',
        language: 'python',
        dependencies,
        env: {},
        signal: signal(),
        onDependenciesInstalled: (info) => infos.push(info),
      });
      try {
        const result = await session.run(['python3', '-c', 'import ptc_demo_alpha, ptc_demo_beta; print(ptc_demo_alpha.VALUE + ptc_demo_beta.VALUE)'], {
          timeoutMs: 20_000,
          signal: signal(),
        });
        expect(result.stderr).toBe('');
        expect(result.stdout.trim()).toBe('83');
        // The shared installation is read-only for test code (under bwrap) and never in the workspace.
        const listing = await session.run(['ls', '-a'], { timeoutMs: 10_000, signal: signal() });
        expect(listing.stdout).not.toContain('ptc_demo_alpha');
      } finally {
        await session.close();
      }
    }
    expect(infos.map((info) => info.reused)).toEqual([false, true]);
    expect(infos[0]?.count).toBe(2);
    expect(readdirSync(cacheDirectory).filter((name) => name.startsWith('python-'))).toHaveLength(1);
  });

  test('concurrent opens of the same set install once and both work', async () => {
    const cacheDirectory = join(scratch, 'cache-concurrent');
    const { runner } = quietRunner({ cacheDirectory, installEnv: offlinePip, readOnlyPaths: [wheelhouse] });
    const { runner: otherRunner } = quietRunner({ cacheDirectory, installEnv: offlinePip, readOnlyPaths: [wheelhouse] });
    const open = (which: typeof runner) => which.open({ executionId: 'c', language: 'python', dependencies: ['ptc-demo-alpha'], env: {}, signal: signal() });
    const sessions = await Promise.all([open(runner), open(runner), open(otherRunner)]);
    try {
      for (const session of sessions) {
        const result = await session.run(['python3', '-c', 'import ptc_demo_alpha; print(ptc_demo_alpha.VALUE)'], { timeoutMs: 20_000, signal: signal() });
        expect(result.stdout.trim()).toBe('41');
      }
    } finally {
      await Promise.all(sessions.map((session) => session.close()));
    }
    const entries = readdirSync(cacheDirectory);
    expect(entries.filter((name) => name.startsWith('python-'))).toHaveLength(1);
    expect(entries.filter((name) => name.startsWith('.staging'))).toEqual([]);
  });

  test('an install that exceeds installTimeoutMs is a clear error, not a hang', async () => {
    const { runner } = quietRunner({
      cacheDirectory: join(scratch, 'cache-timeout'),
      installTimeoutMs: 3_000,
      // An index that never answers: pip would wait on it for minutes.
      installEnv: { PIP_INDEX_URL: 'http://127.0.0.1:9/simple', PIP_DEFAULT_TIMEOUT: '600', PIP_RETRIES: '50' },
    });
    await expect(runner.open({ executionId: 't', language: 'python', dependencies: ['ptc-demo-gamma'], env: {}, signal: signal() })).rejects.toMatchObject({
      code: 'DEPENDENCY_INSTALL_FAILED',
      message: expect.stringContaining('timed out after 3000 ms'),
    });
  });
});
