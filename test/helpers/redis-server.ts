import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { delimiter, join } from 'node:path';

/**
 * A real redis-server on a free loopback port, for the Redis cache tests. It keeps nothing on
 * disk (`--save ''`, `--appendonly no`, a temp `--dir` removed on stop) and can be killed and
 * restarted on the same port, which is what the fault tests need.
 */

/** The absolute path of `redis-server` on PATH, or undefined. */
export function findRedisServer(): string | undefined {
  for (const directory of (process.env.PATH ?? '').split(delimiter)) {
    if (!directory) continue;
    const candidate = join(directory, 'redis-server');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

const isCI = process.env.CI === 'true';
export const REDIS_SERVER_PATH = findRedisServer();

/**
 * Why the Redis tests must skip, or undefined when they run. Under CI=true a missing server is
 * not a reason to skip: .ci/run installs it, so its absence must fail the suite instead.
 */
export const redisSkipReason: string | undefined = (() => {
  if (REDIS_SERVER_PATH || isCI) return undefined;
  const reason = 'redis-server is not on PATH (apt-get install -y redis-server); Redis cache tests SKIPPED';
  console.warn(`\n*** ${reason} ***\n`);
  return reason;
})();

/** A port nothing listens on right now (the OS picked it, then we closed it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('no port assigned'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

/** Sends one inline command over a raw socket and returns the first reply line. */
export async function rawCommand(port: number, command: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    let received = '';
    const timer = setTimeout(() => finish(new Error(`no reply to ${command} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (error?: Error, reply?: string) => {
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(reply ?? '');
    };
    socket.once('error', (error) => finish(error));
    socket.on('data', (chunk) => {
      received += chunk.toString('utf8');
      const end = received.indexOf('\r\n');
      if (end !== -1) finish(undefined, received.slice(0, end));
    });
    socket.once('connect', () => socket.write(`${command}\r\n`));
  });
}

export interface RedisServerOptions {
  /** Extra arguments, e.g. `['--requirepass', 'secret']`. @default [] */
  extraArgs?: readonly string[];
  /** How long to wait for PING to answer. @default 10000 */
  startTimeoutMs?: number;
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private output = '';
  private directory: string | undefined;

  private constructor(
    readonly port: number,
    private readonly options: RedisServerOptions,
  ) {}

  /** Starts a server on a free loopback port. Throws (with the server's output) when it cannot. */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    if (!REDIS_SERVER_PATH) {
      throw new Error('redis-server is not on PATH; CI=true requires it (.ci/run installs it with apt-get install -y redis-server)');
    }
    const server = new RedisServer(await freePort(), options);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** (Re)starts the server on the same port. */
  async start(): Promise<void> {
    if (this.running) return;
    this.directory ??= mkdtempSync(join(tmpdir(), 'ptc-redis-'));
    this.output = '';
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', this.directory,
      '--loglevel', 'warning',
      ...(this.options.extraArgs ?? []),
    ];
    const child = spawn(REDIS_SERVER_PATH!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    const capture = (chunk: Buffer) => {
      // Only for error messages: keep the last few KB.
      this.output = (this.output + chunk.toString('utf8')).slice(-4_000);
    };
    child.stdout?.on('data', capture);
    child.stderr?.on('data', capture);
    child.once('error', (error) => capture(Buffer.from(String(error))));

    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000);
    for (;;) {
      if (!this.running) throw new Error(`redis-server exited during start (port ${this.port}):\n${this.output}`);
      try {
        const reply = await rawCommand(this.port, 'PING', 500);
        // -NOAUTH also proves the server answers.
        if (reply === '+PONG' || reply.startsWith('-NOAUTH')) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(`redis-server did not answer PING on port ${this.port}:\n${this.output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** SIGKILL: the server vanishes without closing connections politely. Waits for the exit. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGSTOP: the server keeps its connections open but answers nothing (a frozen host). */
  pause(): void {
    if (this.running) this.child!.kill('SIGSTOP');
  }

  resume(): void {
    if (this.running) this.child!.kill('SIGCONT');
  }

  /** Stops the server and removes its directory; safe to call twice. */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
    if (this.directory) {
      rmSync(this.directory, { recursive: true, force: true });
      this.directory = undefined;
    }
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // A paused server would not act on SIGTERM until continued.
    child.kill('SIGCONT');
    child.kill(signal);
    const escalate = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(escalate);
  }
}

/**
 * Runs `script` (an ES module, imports relative to the repository root) in a child process and
 * returns what it printed and its exit code: for checking that a store leaves nothing (timer,
 * socket) that keeps a process alive after `disconnect()`.
 */
export async function runScriptInChild(script: string): Promise<{ output: string; code: number | null }> {
  const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: repositoryRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { output, code };
}

/**
 * Bad URLs and connection options, each with what its TypeError must name: the Redis cache and
 * the Redis checkpoint store share one connection (and its validation), so both run this table.
 */
export const BAD_REDIS_CONNECTION_OPTIONS: ReadonlyArray<readonly [url: string, options: Record<string, unknown>, problem: RegExp]> = [
    ['not a url', {}, /url/],
    ['http://127.0.0.1:6379', {}, /redis:\/\//],
    ['redis://127.0.0.1:6379', { connectTimeoutMs: 0 }, /connectTimeoutMs/],
    ['redis://127.0.0.1:6379', { operationTimeoutMs: -1 }, /operationTimeoutMs/],
    ['redis://127.0.0.1:6379', { reconnectAttempts: 1.5 }, /reconnectAttempts/],
    ['redis://127.0.0.1:6379', { retryIntervalMs: 'soon' }, /retryIntervalMs/],
    ['redis://127.0.0.1:6379', { errorWarningIntervalMs: Number.NaN }, /errorWarningIntervalMs/],
    ['redis://127.0.0.1:6379', { namespace: '' }, /namespace/],
    ['redis://127.0.0.1:6379', { onWarning: 1 }, /onWarning/],
];
