import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandResult } from '../../contracts/sandbox-runner.js';
import { PTCTimeoutError, SandboxError } from '../../errors.js';
import { abortReason, raceAbort } from '../../internal/async.js';
import { tail } from '../../internal/text.js';
import type { Language } from '../../plan.js';

export type Ecosystem = 'python' | 'node';

export interface InstalledDependencies {
  readonly ecosystem: Ecosystem;
  /** The completed installation directory (shared, never written after it is complete). */
  readonly directory: string;
  /** `site-packages` for Python (PYTHONPATH), `node_modules` for Node (symlinked into the workspace). */
  readonly modulesDirectory: string;
  readonly reused: boolean;
}

export interface InstallCommand {
  (argv: readonly string[], options: { cwd: string; writablePaths: readonly string[]; timeoutMs: number; signal: AbortSignal }): Promise<CommandResult>;
}

export interface EnsureDependenciesOptions {
  readonly language: Language;
  readonly dependencies: readonly string[];
  readonly cacheDirectory: string;
  readonly installTimeoutMs: number;
  readonly signal: AbortSignal;
  readonly execute: InstallCommand;
  /** The interpreter the tests run with, already resolved (the runner's preflight); else found by running python3. */
  readonly python?: string;
}

const COMPLETE_MARKER = '.ptc-complete';

/**
 * The default cache: per user, because a shared, predictable path in the temporary directory
 * could be created first by another local user, who would then plant code (sitecustomize.py, a
 * completed-looking set) that every later install and test run imports.
 */
export function defaultCacheDirectory(): string {
  return join(tmpdir(), `ptc-agent-deps-${process.getuid?.() ?? 'user'}`);
}

/**
 * Creates the cache directory (mode 0700) when missing and returns its real path. Refuses one
 * that another user could have written: not owned by the current user, writable by group or
 * others, or reached through a symbolic link owned by someone else.
 */
export async function prepareCacheDirectory(path: string): Promise<string> {
  await mkdir(path, { recursive: true, mode: 0o700 });
  const uid = process.getuid?.();
  if (uid === undefined) return realpath(path);
  const link = await lstat(path);
  if (link.isSymbolicLink() && link.uid !== uid) {
    throw new SandboxError(`Refusing the dependency cache directory ${path}: it is a symbolic link owned by uid ${link.uid}, not by this user (uid ${uid})`, {
      code: 'SANDBOX_OPEN_FAILED',
    });
  }
  const resolved = await realpath(path);
  const stats = await stat(resolved);
  if (stats.uid !== uid) {
    throw new SandboxError(
      `Refusing the dependency cache directory ${resolved}: it is owned by uid ${stats.uid}, not by this user (uid ${uid}); another user could have planted code in it. Remove it or choose another cacheDirectory.`,
      { code: 'SANDBOX_OPEN_FAILED' },
    );
  }
  if ((stats.mode & 0o022) !== 0) {
    throw new SandboxError(
      `Refusing the dependency cache directory ${resolved}: it is writable by group or others (mode ${(stats.mode & 0o777).toString(8)}); another user could have planted code in it. Run chmod 700 on it or choose another cacheDirectory.`,
      { code: 'SANDBOX_OPEN_FAILED' },
    );
  }
  return resolved;
}

export function ecosystemOf(language: Language): Ecosystem {
  return language === 'python' ? 'python' : 'node';
}

/** Same set, same key: order and duplicates do not matter. */
export function dependencyKey(ecosystem: Ecosystem, dependencies: readonly string[]): string {
  const sorted = [...new Set(dependencies)].sort();
  return createHash('sha256').update(JSON.stringify({ version: 1, ecosystem, dependencies: sorted })).digest('hex').slice(0, 24);
}

interface PendingInstall {
  readonly promise: Promise<void>;
  readonly controller: AbortController;
  waiters: number;
}

// Installs of one key inside this process share one install; across processes the atomic
// rename decides, and the loser throws its copy away.
const pending = new Map<string, PendingInstall>();

/**
 * Installs a dependency set once per cache directory and hands back the completed directory.
 * An installation is built in a private temporary directory and renamed into place only when
 * complete, so a crash or a concurrent twin never leaves a half-installed set that looks done.
 */
export function ensureDependencies(options: EnsureDependenciesOptions): Promise<InstalledDependencies> {
  const ecosystem = ecosystemOf(options.language);
  const key = dependencyKey(ecosystem, options.dependencies);
  const directory = join(options.cacheDirectory, `${ecosystem}-${key}`);
  const modulesDirectory = join(directory, ecosystem === 'python' ? 'site-packages' : 'node_modules');
  if (existsSync(join(directory, COMPLETE_MARKER))) {
    return Promise.resolve({ ecosystem, directory, modulesDirectory, reused: true });
  }
  if (options.signal.aborted) return Promise.reject(abortReason(options.signal));
  let entry = pending.get(directory);
  if (!entry) {
    const controller = new AbortController();
    const promise = install(options, ecosystem, directory, controller.signal).finally(() => pending.delete(directory));
    promise.catch(() => {});
    entry = { promise, controller, waiters: 0 };
    pending.set(directory, entry);
  }
  const shared = entry;
  shared.waiters += 1;
  // A twin that aborts only stops waiting; the install itself stops when its last waiter leaves.
  const onAbort = () => {
    shared.waiters -= 1;
    if (shared.waiters === 0) shared.controller.abort(options.signal.reason);
  };
  options.signal.addEventListener('abort', onAbort, { once: true });
  return raceAbort(shared.promise, options.signal)
    .finally(() => options.signal.removeEventListener('abort', onAbort))
    .then(() => ({ ecosystem, directory, modulesDirectory, reused: false }));
}

async function install(options: EnsureDependenciesOptions, ecosystem: Ecosystem, directory: string, signal: AbortSignal): Promise<void> {
  const downloads = join(options.cacheDirectory, 'downloads');
  await mkdir(downloads, { recursive: true });
  const staging = join(options.cacheDirectory, `.staging-${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(staging, { recursive: true });
  const specs = [...new Set(options.dependencies)].sort();
  // One budget for every step of the install, not one per step.
  const deadline = performance.now() + options.installTimeoutMs;
  const remainingMs = () => Math.max(1, Math.round(deadline - performance.now()));
  const timedOut = () =>
    new SandboxError(`Installing ${describeSet(specs)} timed out after ${options.installTimeoutMs} ms`, {
      code: 'DEPENDENCY_INSTALL_FAILED',
      cause: new PTCTimeoutError('dependency install timed out', options.installTimeoutMs),
    });
  try {
    let argv: string[];
    if (ecosystem === 'python') {
      // pip through the interpreter itself, not a version-manager shim: pyenv's shim re-runs
      // `pyenv rehash` after `-m pip install`, which fails (exit 1) on a read-only system.
      const python = options.python ?? (await resolvePython(options, staging, signal, remainingMs(), timedOut));
      argv = [python, '-m', 'pip', 'install', '--no-input', '--disable-pip-version-check', '--no-warn-script-location', '--target', join(staging, 'site-packages'), ...specs];
    } else {
      await writeFile(join(staging, 'package.json'), `${JSON.stringify({ name: 'ptc-agent-dependencies', private: true }, null, 2)}\n`);
      // Install scripts are arbitrary code from the registry; packages that need one are rare
      // in generated code and get a clear failure instead of a silent compromise.
      argv = ['npm', 'install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error', ...specs];
    }
    const result = await options.execute(argv, {
      cwd: staging,
      writablePaths: [staging, downloads],
      timeoutMs: remainingMs(),
      signal,
    });
    if (result.timedOut) throw timedOut();
    if (result.exitCode !== 0) {
      const output = tail(`${result.stderr}\n${result.stdout}`.trim(), 2_000);
      throw new SandboxError(`Installing ${describeSet(specs)} failed (${ecosystem === 'python' ? 'pip' : 'npm'} exited with ${result.exitCode ?? 'a signal'}):\n${output}`, {
        code: 'DEPENDENCY_INSTALL_FAILED',
      });
    }
    await writeFile(join(staging, COMPLETE_MARKER), `${JSON.stringify({ ecosystem, dependencies: specs })}\n`);
    try {
      await rename(staging, directory);
    } catch (error) {
      // Another process completed the same set first (ENOTEMPTY/EEXIST): use theirs.
      if (!existsSync(join(directory, COMPLETE_MARKER))) throw error;
      await rm(staging, { recursive: true, force: true });
    }
  } catch (error) {
    await rm(staging, { recursive: true, force: true }).catch(() => {});
    if (error instanceof SandboxError || signal.aborted) throw error;
    throw new SandboxError(`Installing ${describeSet(specs)} failed: ${error instanceof Error ? error.message : String(error)}`, {
      code: 'DEPENDENCY_INSTALL_FAILED',
      cause: error,
    });
  }
}

async function resolvePython(
  options: EnsureDependenciesOptions,
  cwd: string,
  signal: AbortSignal,
  timeoutMs: number,
  timedOut: () => Error,
): Promise<string> {
  const result = await options.execute(['python3', '-c', 'import sys; print(sys.executable)'], { cwd, writablePaths: [cwd], timeoutMs, signal });
  if (result.timedOut) throw timedOut();
  const executable = result.stdout.trim().split('\n').at(-1) ?? '';
  if (result.exitCode !== 0 || !executable.startsWith('/')) {
    throw new SandboxError(`Python dependencies need python3 on the sandbox PATH: ${tail(result.stderr.trim(), 500) || 'python3 did not start'}`, {
      code: 'DEPENDENCY_INSTALL_FAILED',
    });
  }
  return executable;
}

function describeSet(specs: readonly string[]): string {
  const shown = specs.slice(0, 10).join(', ');
  return specs.length > 10 ? `${shown} and ${specs.length - 10} more` : shown;
}
