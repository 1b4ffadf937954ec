import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SandboxFile, SandboxRunner, SandboxSession } from '../../src/contracts/sandbox-runner.js';
import type { Language } from '../../src/plan.js';
import { runTests } from '../../src/reports/run-tests.js';
import type { TestPreset } from '../../src/reports/presets.js';
import { LocalSandboxRunner, type LocalSandboxRunnerOptions } from '../../src/runners/local.js';

export const signal = (): AbortSignal => new AbortController().signal;

/** Whether bubblewrap is installed and can create namespaces here. */
export function bubblewrapUsable(): boolean {
  try {
    execFileSync('bwrap', ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--unshare-net', '--', 'true'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export const HAS_BWRAP = bubblewrapUsable();
export const IN_CI = process.env.CI === 'true';

/**
 * bwrap-only tests skip loudly where bubblewrap is missing, except in CI, where a missing bwrap
 * is a broken setup and the tests run (and fail) instead of hiding it.
 */
export const SKIP_BWRAP = !HAS_BWRAP && !IN_CI;
if (SKIP_BWRAP) console.warn('[local runner tests] bubblewrap (bwrap) is not usable here: the bwrap isolation tests are SKIPPED. Install it with `apt-get install -y bubblewrap`.');

export function quietRunner(options: LocalSandboxRunnerOptions = {}): { runner: LocalSandboxRunner; warnings: string[] } {
  const warnings: string[] = [];
  const runner = new LocalSandboxRunner({ onWarning: (message) => warnings.push(message), ...options });
  return { runner, warnings };
}

export async function withSession<T>(
  runner: LocalSandboxRunner,
  language: Language,
  body: (session: SandboxSession) => Promise<T>,
  dependencies: string[] = [],
): Promise<T> {
  const session = await runner.open({ executionId: `test-${Date.now()}`, language, dependencies, env: {}, signal: signal() });
  try {
    return await body(session);
  } finally {
    await session.close();
  }
}

/** A workspace root of its own per session: a warm session's standbys are told apart by it (see processesWith). */
export const freshRoot = (): string => mkdtempSync(join(tmpdir(), 'ptc-warm-test-'));

/**
 * Opens a `language` session of a runner with `options` in a fresh workspace root, runs `body`,
 * then closes the session and removes the root, whatever `body` did.
 */
export async function withOwnRoot<T>(
  language: Language,
  options: LocalSandboxRunnerOptions,
  body: (session: SandboxSession, root: string) => Promise<T>,
): Promise<T> {
  const root = freshRoot();
  const { runner } = quietRunner({ ...options, workspaceRoot: root });
  const session = await runner.open({ executionId: `${language}-${Date.now()}`, language, dependencies: [], env: {}, signal: signal() });
  try {
    return await body(session, root);
  } finally {
    await session.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/** Writes the files and runs the preset through the shared `runTests`, as the agent does. */
export async function runSuite(session: SandboxSession, preset: TestPreset, files: SandboxFile[], timeoutMs = 30_000) {
  await session.sync(files, { signal: signal() });
  const testFiles = files.filter((file) => /(^|\/)(test_[^/]*\.py|[^/]*\.test\.[jt]s)$/.test(file.path)).map((file) => file.path);
  return runTests(session, preset, { timeoutMs, signal: signal(), testFiles });
}

/**
 * Host processes whose command line contains `marker` (leftovers of a killed run) and, when
 * given, whose environment contains `environmentMarker` (a session's own workspace root: other
 * test files run beside this one, with standbys of their own).
 */
export function processesWith(marker: string, environmentMarker?: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!commandLine.includes(marker)) continue;
      if (environmentMarker === undefined || readFileSync(`/proc/${entry}/environ`, 'utf8').includes(environmentMarker)) found.push(Number(entry));
    } catch {
      // Exited while we looked.
    }
  }
  return found;
}

/** The parent pid of a process (the 4th field of /proc/<pid>/stat, after the parenthesised name). */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** How many runs of a local session used its warm standby (the session's own counter). */
export const warmRuns = (session: SandboxSession): number => (session as unknown as { warmRuns: number }).warmRuns;

/**
 * `local` as an agent sees it, recording every command of every session it opens and whether
 * that command used the session's standby: what the warm tests through the agent check.
 */
export function recordingRunner(local: LocalSandboxRunner): { runner: SandboxRunner; runs: Array<{ argv: readonly string[]; warm: boolean }> } {
  const runs: Array<{ argv: readonly string[]; warm: boolean }> = [];
  const runner: SandboxRunner = {
    id: local.id,
    preflight: (spec) => local.preflight(spec),
    open: async (spec) => {
      const session = await local.open(spec);
      return {
        id: session.id,
        ...(session.isolation ? { isolation: session.isolation } : {}),
        sync: (files, options) => session.sync(files, options),
        readFile: (path, options) => session.readFile(path, options),
        close: () => session.close(),
        run: async (argv, options) => {
          const before = warmRuns(session);
          const result = await session.run(argv, options);
          runs.push({ argv, warm: warmRuns(session) > before });
          return result;
        },
      };
    },
  };
  return { runner, runs };
}
