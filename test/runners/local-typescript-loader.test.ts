import { expect, test } from 'vitest';
import { signal, quietRunner } from './local-helpers.js';

test("requireTypeScriptLoader: false installs no tsx (the loader comes from elsewhere)", async () => {
  const { runner } = quietRunner({ isolation: 'none', requireTypeScriptLoader: false });
  const installed: number[] = [];
  const session = await runner.open({
    executionId: 'no-tsx',
    language: 'typescript',
    dependencies: ['tsx'],
    env: {},
    signal: signal(),
    onDependenciesInstalled: (info) => installed.push(info.count),
  });
  try {
    // Nothing left to install: no npm call (which would also fail offline).
    expect(installed).toEqual([]);
    const listing = await session.run(['sh', '-c', 'ls -A'], { timeoutMs: 10_000, signal: signal() });
    expect(listing.stdout).not.toMatch(/node_modules/);
  } finally {
    await session.close();
  }
}, 60_000);
