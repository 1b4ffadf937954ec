import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = resolve(import.meta.dirname, '../..');
const TSX_LOADER = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const ENTRY = join(ROOT, 'src/cli/index.ts');

/** Output past this is dropped: a runaway redraw loop must fail the test, not fill the disk. */
const MAX_OUTPUT = 4 * 1024 * 1024;

export interface CLIResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface SpawnOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  stdin?: string;
  /** Called with stderr so far on every chunk; lets a test act mid-run (send SIGINT). */
  onStderr?: (stderr: string, child: ReturnType<typeof spawn>) => void;
  /** Called once the process has started. */
  onSpawn?: (child: ReturnType<typeof spawn>) => void;
  /** The process is killed past this; a generous bound for a shared machine, never an assertion. */
  killAfterMs?: number;
  /** Run this command instead of the CLI from source (e.g. the built dist/cli.js). */
  command?: string[];
}

/**
 * Runs the CLI in a real process: from source through tsx (no build needed), with an environment
 * of its own (no API key of the host leaks in) and TMPDIR pointing where the test looks.
 */
export function runCLI(args: string[], options: SpawnOptions): Promise<CLIResult> {
  const command = options.command ?? [process.execPath, '--import', TSX_LOADER, ENTRY];
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'LANG', 'TMPDIR']) if (process.env[name] !== undefined) env[name] = process.env[name]!;
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], { cwd: options.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), options.killAfterMs ?? 120_000);
    child.stdout.on('data', (chunk: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += chunk.toString('utf8');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += chunk.toString('utf8');
      options.onStderr?.(stderr, child);
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

export async function temporaryDirectory(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
