/**
 * Test support for the queue-workers tests (not part of the example): worker processes started as
 * a user would start them (`node --import tsx worker.ts`), their JSON event lines collected.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerEvent } from './worker.js';

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  events: WorkerEvent[];
  /** The last 4 KB of its stderr, for failure messages. */
  stderr: string;
  exited: Promise<void>;
}

/** Variables of this machine that would change which generator, runner or limits a worker takes. */
const MACHINE_SETTINGS = [
  'ANTHROPIC_API_KEY',
  'ANTHROPIC_AUTH_TOKEN',
  'ANTHROPIC_BASE_URL',
  'ANTHROPIC_CUSTOM_HEADERS',
  'ANTHROPIC_MODEL',
  'DAYTONA_API_KEY',
  'PTC_SCRIPT',
  'PTC_CACHE_NAMESPACE',
  'MAX_CONCURRENT_EXECUTIONS',
];

/** Starts a worker process with this machine's settings removed and `env` on top. */
export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const name of MACHINE_SETTINGS) delete childEnv[name];
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const record: WorkerProcess = { child, events: [], stderr: '', exited: new Promise((resolve) => child.once('exit', () => resolve())) };
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    let end: number;
    while ((end = buffer.indexOf('\n')) !== -1) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (line.startsWith('{')) record.events.push(JSON.parse(line) as WorkerEvent);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    record.stderr = (record.stderr + chunk.toString('utf8')).slice(-4_000);
  });
  return record;
}

export function hasExited(worker: WorkerProcess): boolean {
  return worker.child.exitCode !== null || worker.child.signalCode !== null;
}

/** Polls `condition` until it holds; on timeout throws with the workers' stderr. */
export async function waitFor(what: string, condition: () => boolean, workers: readonly WorkerProcess[], timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; worker stderr:\n${workers.map((worker) => worker.stderr).join('\n---\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** SIGTERM (a graceful close: jobs in hand finish), SIGKILL after 10 s. */
export async function stopWorker(worker: WorkerProcess): Promise<void> {
  if (hasExited(worker)) return;
  worker.child.kill('SIGTERM');
  const escalate = setTimeout(() => worker.child.kill('SIGKILL'), 10_000);
  await worker.exited;
  clearTimeout(escalate);
}

/** SIGKILL, as a crash would: no handler runs, nothing is closed. Waits for the exit. */
export async function killWorker(worker: WorkerProcess): Promise<void> {
  if (hasExited(worker)) return;
  worker.child.kill('SIGKILL');
  await worker.exited;
}
