/**
 * A local fake of the Daytona control plane (`/api`) and toolbox (`/toolbox/<id>/`) speaking the
 * wire protocol @daytonaio/sdk 0.218.0 uses (SDK-NOTES.md §2.4–2.6), so adapters are tested
 * through the real SDK. Commands really run (`bash -c`) in a per-sandbox temp directory with only
 * the requested environment; `timeout` kills the process group and answers 408
 * PROCESS_EXECUTION_TIMEOUT like the daemon. Every call is recorded, latency can be injected per
 * endpoint, and faults (errors, hangs, dropped sockets) can be queued.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Daytona } from '@daytonaio/sdk';
import type { SandboxOpenSpec } from '../../src/contracts/sandbox-runner.js';
import { DaytonaSandboxRunner, type DaytonaSandboxRunnerOptions } from '../../src/runners/daytona.js';

export type FakeEndpoint =
  | 'create'
  | 'get'
  | 'list'
  | 'delete'
  | 'proxy-url'
  | 'execute'
  | 'upload'
  | 'download'
  | 'sandbox-snapshot'
  | 'snapshot-get'
  | 'snapshot-list'
  | 'snapshot-delete'
  | 'other-control'
  | 'other-toolbox';

const CONTROL_ENDPOINTS: ReadonlySet<FakeEndpoint> = new Set([
  'create',
  'get',
  'list',
  'delete',
  'proxy-url',
  'sandbox-snapshot',
  'snapshot-get',
  'snapshot-list',
  'snapshot-delete',
  'other-control',
]);

/** A snapshot as the fake keeps it: a copy of a sandbox's files, and the state the API reports. */
interface FakeSnapshot {
  id: string;
  name: string;
  state: string;
  errorReason: string | null;
  /** GETs still answered with state `pending` before `state` shows (a snapshot being made elsewhere). */
  pendingPolls: number;
  root: string;
  createdAt: string;
}

export interface FakeFault {
  endpoint: FakeEndpoint;
  /**
   * `error`: answer `status` with a JSON error body. `hang`: never answer (until the server or the
   * sandbox goes away). `drop`: destroy the socket without an answer.
   */
  kind: 'error' | 'hang' | 'drop';
  /** `after`: the request takes effect first (a sandbox is created, a delete happens), then the fault. @default 'before' */
  phase?: 'before' | 'after';
  /** @default 500 */
  status?: number;
  message?: string;
  /** How many matching calls the fault applies to. @default 1 */
  times?: number;
}

export interface FakeCall {
  endpoint: FakeEndpoint;
  method: string;
  path: string;
  sandboxId?: string;
  /** HTTP status answered; `hang` or `drop` when none was. */
  outcome: number | 'hang' | 'drop';
  /** Parsed JSON body of control-plane and execute calls. */
  body?: unknown;
}

export interface FakeDaytonaServerOptions {
  /** Added before answering, per endpoint; `controlPlane`/`toolbox` apply to every endpoint of their group. */
  latencyMs?: Partial<Record<FakeEndpoint | 'controlPlane' | 'toolbox', number>>;
  /** Accepted bearer token. @default 'fake-daytona-key' */
  apiKey?: string;
  /** Cap of the merged output kept per command, in bytes. @default 4 MiB */
  maxOutputBytes?: number;
}

interface FakeSandbox {
  id: string;
  name: string;
  labels: Record<string, string>;
  env: Record<string, string>;
  createdAt: string;
  root: string;
  state: 'started' | 'snapshotting' | 'destroyed';
  processes: Set<ChildProcess>;
  pending: Set<ServerResponse>;
  body: Record<string, unknown>;
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;

export class FakeDaytonaServer {
  readonly calls: FakeCall[] = [];
  private readonly sandboxes = new Map<string, FakeSandbox>();
  private readonly snapshotStore = new Map<string, FakeSnapshot>();
  private readonly faults: Array<FakeFault & { remaining: number }> = [];
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();
  private readonly latencyMs: NonNullable<FakeDaytonaServerOptions['latencyMs']>;
  private readonly maxOutputBytes: number;
  private sequence = 0;
  private closed = false;
  private readonly server: Server;
  readonly apiKey: string;
  private port = 0;
  private tempRoot = '';

  private constructor(options: FakeDaytonaServerOptions) {
    this.latencyMs = { ...options.latencyMs };
    this.apiKey = options.apiKey ?? 'fake-daytona-key';
    this.maxOutputBytes = options.maxOutputBytes ?? 4 * 1024 * 1024;
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent && !response.destroyed) this.json(response, 500, { message: `fake server error: ${String(error)}`, statusCode: 500 });
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(options: FakeDaytonaServerOptions = {}): Promise<FakeDaytonaServer> {
    const fake = new FakeDaytonaServer(options);
    fake.tempRoot = await mkdtemp(join(tmpdir(), 'fake-daytona-'));
    await new Promise<void>((resolvePromise, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolvePromise());
    });
    const address = fake.server.address();
    if (address === null || typeof address === 'string') throw new Error('fake daytona: no port');
    fake.port = address.port;
    return fake;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** What to pass as `apiUrl`. */
  get apiUrl(): string {
    return `${this.baseUrl}/api`;
  }

  /** Queues a fault; faults of an endpoint apply in the order they were queued. */
  injectFault(fault: FakeFault): void {
    this.faults.push({ ...fault, remaining: fault.times ?? 1 });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  setLatency(latencyMs: FakeDaytonaServerOptions['latencyMs']): void {
    for (const key of Object.keys(this.latencyMs)) delete this.latencyMs[key as keyof typeof this.latencyMs];
    Object.assign(this.latencyMs, latencyMs);
  }

  /** Destroys every open connection, as a network blip or a restarting proxy would. */
  dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  count(endpoint: FakeEndpoint): number {
    return this.calls.filter((call) => call.endpoint === endpoint).length;
  }

  /** Calls that reached the server and took effect (2xx or an `after`-phase fault). */
  succeeded(endpoint: FakeEndpoint): number {
    return this.calls.filter((call) => call.endpoint === endpoint && (typeof call.outcome !== 'number' || call.outcome < 300)).length;
  }

  /** Ids of sandboxes that exist and were not deleted. */
  liveSandboxes(): string[] {
    return [...this.sandboxes.values()].filter((sandbox) => sandbox.state !== 'destroyed').map((sandbox) => sandbox.id);
  }

  /** Every sandbox ever created, deleted ones included. */
  allSandboxes(): Array<{ id: string; name: string; labels: Record<string, string>; state: string; body: Record<string, unknown> }> {
    return [...this.sandboxes.values()].map(({ id, name, labels, state, body }) => ({ id, name, labels, state, body }));
  }

  /** Adds a sandbox as if another process had created it (for orphan sweeps). */
  async seedSandbox(options: { labels: Record<string, string>; createdAt: Date; name?: string }): Promise<string> {
    const sandbox = await this.createSandbox({ name: options.name, labels: options.labels, env: {} });
    sandbox.createdAt = options.createdAt.toISOString();
    return sandbox.id;
  }

  /** The snapshots that exist (made through the API or seeded). */
  snapshots(): Array<{ id: string; name: string; state: string }> {
    return [...this.snapshotStore.values()].map(({ id, name, state }) => ({ id, name, state }));
  }

  /**
   * Adds a snapshot as if another process had made (or were making) it: `pendingPolls` GETs see
   * it `pending` first; `files` are what sandboxes started from it hold.
   */
  async seedSnapshot(name: string, options: { state?: string; errorReason?: string; pendingPolls?: number; files?: Record<string, string> } = {}): Promise<void> {
    const snapshot = await this.addSnapshot(name, undefined);
    snapshot.state = options.state ?? 'active';
    snapshot.errorReason = options.errorReason ?? null;
    snapshot.pendingPolls = options.pendingPolls ?? 0;
    for (const [path, content] of Object.entries(options.files ?? {})) {
      await mkdir(dirname(join(snapshot.root, path)), { recursive: true });
      await writeFile(join(snapshot.root, path), content);
    }
  }

  /** Paths of the files a snapshot holds (what sandboxes started from it get). */
  async snapshotFiles(name: string): Promise<string[]> {
    const snapshot = this.findSnapshot(name);
    if (!snapshot) return [];
    const entries = await readdir(snapshot.root, { recursive: true, withFileTypes: true });
    return entries.filter((entry) => entry.isFile()).map((entry) => relative(snapshot.root, join(entry.parentPath, entry.name))).sort();
  }

  /** The sandbox's directory, to inspect what commands left behind. */
  sandboxRoot(id: string): string | undefined {
    return this.sandboxes.get(id)?.root;
  }

  /** Forgets recorded calls, queued faults and deleted sandboxes (live ones stay). */
  reset(): void {
    this.calls.length = 0;
    this.faults.length = 0;
    for (const [id, sandbox] of this.sandboxes) if (sandbox.state === 'destroyed') this.sandboxes.delete(id);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const response of this.hung) response.destroy();
    for (const sandbox of this.sandboxes.values()) this.destroySandbox(sandbox);
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    await rm(this.tempRoot, { recursive: true, force: true });
  }

  // ---------------------------------------------------------------------------------------------

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', this.baseUrl);
    const path = url.pathname;
    const method = request.method ?? 'GET';
    const body = await readBody(request);
    const contentType = request.headers['content-type'] ?? '';
    const route = this.route(method, path);
    const call: FakeCall = { endpoint: route.endpoint, method, path, outcome: 200 };
    if (route.sandboxKey !== undefined) call.sandboxId = route.sandboxKey;
    this.calls.push(call);

    if (request.headers.authorization !== `Bearer ${this.apiKey}`) {
      call.outcome = 401;
      this.json(response, 401, { message: 'Unauthorized', statusCode: 401 });
      return;
    }
    const latency = this.latencyMs[route.endpoint] ?? (CONTROL_ENDPOINTS.has(route.endpoint) ? this.latencyMs.controlPlane : this.latencyMs.toolbox) ?? 0;
    if (latency > 0) await sleep(latency);

    const fault = this.takeFault(route.endpoint);
    if (fault && (fault.phase ?? 'before') === 'before') {
      this.applyFault(fault, call, response);
      return;
    }
    if (fault) {
      // The request takes effect; its answer is replaced by the fault.
      const sink = new DiscardingResponse();
      await this.dispatch(route, method, url, body, contentType, call, sink as unknown as ServerResponse).catch(() => {});
      this.applyFault(fault, call, response);
      return;
    }
    await this.dispatch(route, method, url, body, contentType, call, response);
  }

  private route(method: string, path: string): { endpoint: FakeEndpoint; sandboxKey?: string; rest?: string; snapshotKey?: string } {
    const snapshots = /^\/api\/snapshots(?:\/([^/]+))?$/.exec(path);
    if (snapshots) {
      const key = snapshots[1] === undefined ? undefined : decodeURIComponent(snapshots[1]);
      if (key === undefined) return { endpoint: method === 'GET' ? 'snapshot-list' : 'other-control' };
      if (method === 'GET') return { endpoint: 'snapshot-get', snapshotKey: key };
      if (method === 'DELETE') return { endpoint: 'snapshot-delete', snapshotKey: key };
      return { endpoint: 'other-control' };
    }
    const control = /^\/api\/sandbox(?:\/([^/]+))?(\/.*)?$/.exec(path);
    if (control) {
      const key = control[1] === undefined ? undefined : decodeURIComponent(control[1]);
      const rest = control[2] ?? '';
      if (key === undefined) {
        if (method === 'POST') return { endpoint: 'create' };
        if (method === 'GET') return { endpoint: 'list' };
        return { endpoint: 'other-control' };
      }
      if (rest === '' && method === 'GET') return { endpoint: 'get', sandboxKey: key };
      if (rest === '' && method === 'DELETE') return { endpoint: 'delete', sandboxKey: key };
      if (rest === '/toolbox-proxy-url' && method === 'GET') return { endpoint: 'proxy-url', sandboxKey: key };
      if (rest === '/snapshot' && method === 'POST') return { endpoint: 'sandbox-snapshot', sandboxKey: key };
      return { endpoint: 'other-control', sandboxKey: key, rest };
    }
    const toolbox = /^\/toolbox\/([^/]+)(\/.*)$/.exec(path);
    if (toolbox) {
      const key = decodeURIComponent(toolbox[1]!);
      const rest = toolbox[2]!;
      if (rest === '/process/execute' && method === 'POST') return { endpoint: 'execute', sandboxKey: key, rest };
      if (rest === '/files/bulk-upload' && method === 'POST') return { endpoint: 'upload', sandboxKey: key, rest };
      if (rest === '/files/bulk-download' && method === 'POST') return { endpoint: 'download', sandboxKey: key, rest };
      return { endpoint: 'other-toolbox', sandboxKey: key, rest };
    }
    return { endpoint: path.startsWith('/api') ? 'other-control' : 'other-toolbox' };
  }

  private takeFault(endpoint: FakeEndpoint): FakeFault | undefined {
    const index = this.faults.findIndex((fault) => fault.endpoint === endpoint && fault.remaining > 0);
    if (index === -1) return undefined;
    const fault = this.faults[index]!;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.faults.splice(index, 1);
    return fault;
  }

  private applyFault(fault: FakeFault, call: FakeCall, response: ServerResponse): void {
    if (fault.kind === 'error') {
      const status = fault.status ?? 500;
      call.outcome = status;
      this.json(response, status, { message: fault.message ?? `injected fault on ${call.endpoint}`, statusCode: status });
    } else if (fault.kind === 'hang') {
      call.outcome = 'hang';
      this.hung.add(response);
      response.on('close', () => this.hung.delete(response));
    } else {
      call.outcome = 'drop';
      response.socket?.destroy();
    }
  }

  private async dispatch(
    route: { endpoint: FakeEndpoint; sandboxKey?: string; rest?: string; snapshotKey?: string },
    method: string,
    url: URL,
    body: Buffer,
    contentType: string,
    call: FakeCall,
    response: ServerResponse,
  ): Promise<void> {
    switch (route.endpoint) {
      case 'create': {
        const parsed = parseJson(body) as Record<string, unknown>;
        call.body = parsed;
        const name = typeof parsed.name === 'string' ? parsed.name : undefined;
        if (name !== undefined && this.findSandbox(name)) {
          call.outcome = 409;
          this.json(response, 409, { message: `Sandbox with name ${name} already exists`, statusCode: 409 });
          return;
        }
        // A snapshot the fake made or was given starts the sandbox with its files; any other name
        // stands for a base image the fake does not model (an empty sandbox).
        const from = typeof parsed.snapshot === 'string' ? this.findSnapshot(parsed.snapshot) : undefined;
        if (from && from.state !== 'active') {
          call.outcome = 400;
          this.json(response, 400, { message: `Snapshot ${from.name} is ${from.state}`, statusCode: 400 });
          return;
        }
        const sandbox = await this.createSandbox({
          name,
          labels: (parsed.labels as Record<string, string> | undefined) ?? {},
          env: (parsed.env as Record<string, string> | undefined) ?? {},
        });
        if (from) await cp(from.root, sandbox.root, { recursive: true });
        sandbox.body = parsed;
        this.json(response, 200, this.dto(sandbox));
        return;
      }
      case 'list': {
        const labels = url.searchParams.get('labels');
        const wanted = labels ? (JSON.parse(labels) as Record<string, string>) : {};
        const before = url.searchParams.get('createdAtBefore');
        const items = [...this.sandboxes.values()]
          .filter((sandbox) => sandbox.state !== 'destroyed')
          .filter((sandbox) => Object.entries(wanted).every(([key, value]) => sandbox.labels[key] === value))
          .filter((sandbox) => before === null || sandbox.createdAt < before)
          .map((sandbox) => this.dto(sandbox));
        this.json(response, 200, { items, total: items.length, page: 1, totalPages: 1, nextCursor: null });
        return;
      }
      case 'sandbox-snapshot': {
        const parsed = parseJson(body) as Record<string, unknown>;
        call.body = parsed;
        const sandbox = this.findSandbox(route.sandboxKey!);
        if (!sandbox) {
          call.outcome = 404;
          this.json(response, 404, { message: `Sandbox ${route.sandboxKey} not found`, statusCode: 404 });
          return;
        }
        // The SDK sends exactly { name } (CreateSandboxSnapshot): anything else is not what it would send.
        if (Object.keys(parsed).join(',') !== 'name' || typeof parsed.name !== 'string' || parsed.name === '') {
          call.outcome = 400;
          this.json(response, 400, { message: `expected {"name": string}, got ${JSON.stringify(parsed)}`, statusCode: 400 });
          return;
        }
        if (this.findSnapshot(parsed.name)) {
          call.outcome = 409;
          this.json(response, 409, { message: `Snapshot with name ${parsed.name} already exists`, statusCode: 409 });
          return;
        }
        await this.addSnapshot(parsed.name, sandbox.root);
        // Like Daytona: the sandbox answers `snapshotting`, and is back to `started` when next looked at.
        sandbox.state = 'snapshotting';
        this.json(response, 200, this.dto(sandbox));
        sandbox.state = 'started';
        return;
      }
      case 'snapshot-get':
      case 'snapshot-delete': {
        const snapshot = this.findSnapshot(route.snapshotKey!);
        if (!snapshot) {
          call.outcome = 404;
          this.json(response, 404, { message: `Snapshot ${route.snapshotKey} not found`, statusCode: 404 });
          return;
        }
        if (route.endpoint === 'snapshot-delete') {
          this.snapshotStore.delete(snapshot.id);
          void rm(snapshot.root, { recursive: true, force: true }).catch(() => {});
          response.writeHead(200).end();
          return;
        }
        this.json(response, 200, this.snapshotDto(snapshot));
        return;
      }
      case 'snapshot-list': {
        const items = [...this.snapshotStore.values()].map((snapshot) => this.snapshotDto(snapshot));
        this.json(response, 200, { items, total: items.length, page: 1, totalPages: 1 });
        return;
      }
      case 'get':
      case 'proxy-url':
      case 'delete': {
        const sandbox = this.findSandbox(route.sandboxKey!);
        if (!sandbox) {
          call.outcome = 404;
          this.json(response, 404, { message: `Sandbox ${route.sandboxKey} not found`, statusCode: 404 });
          return;
        }
        if (route.endpoint === 'get') this.json(response, 200, this.dto(sandbox));
        else if (route.endpoint === 'proxy-url') this.json(response, 200, { url: `${this.baseUrl}/toolbox` });
        else {
          this.destroySandbox(sandbox);
          this.json(response, 200, this.dto(sandbox));
        }
        return;
      }
      case 'execute':
      case 'upload':
      case 'download':
      case 'other-toolbox': {
        const sandbox = this.findSandbox(route.sandboxKey!);
        if (!sandbox) {
          call.outcome = 404;
          this.json(response, 404, { message: `Sandbox ${route.sandboxKey} not found`, statusCode: 404 });
          return;
        }
        sandbox.pending.add(response);
        response.on('close', () => sandbox.pending.delete(response));
        if (route.endpoint === 'execute') await this.execute(sandbox, body, call, response);
        else if (route.endpoint === 'upload') await this.upload(sandbox, body, contentType, call, response);
        else if (route.endpoint === 'download') await this.download(sandbox, body, response);
        else {
          call.outcome = 404;
          this.json(response, 404, { message: `fake daytona does not implement ${method} ${route.rest}`, statusCode: 404 });
        }
        return;
      }
      default:
        call.outcome = 404;
        // Also answers /api/socket.io/ (only hit when polling is off), which makes the SDK fall back to polling.
        this.json(response, 404, { message: `fake daytona does not implement ${method} ${url.pathname}`, statusCode: 404 });
    }
  }

  private async createSandbox(options: { name: string | undefined; labels: Record<string, string>; env: Record<string, string> }): Promise<FakeSandbox> {
    this.sequence += 1;
    const id = `sb-${this.sequence}-${randomBytes(3).toString('hex')}`;
    const root = join(this.tempRoot, id);
    await mkdir(root, { recursive: true });
    const sandbox: FakeSandbox = {
      id,
      name: options.name ?? id,
      labels: { ...options.labels },
      env: { ...options.env },
      createdAt: new Date().toISOString(),
      root,
      state: 'started',
      processes: new Set(),
      pending: new Set(),
      body: {},
    };
    this.sandboxes.set(id, sandbox);
    return sandbox;
  }

  private async addSnapshot(name: string, sourceRoot: string | undefined): Promise<FakeSnapshot> {
    this.sequence += 1;
    const id = `snap-${this.sequence}-${randomBytes(3).toString('hex')}`;
    const root = join(this.tempRoot, id);
    // Registered before the copy: a second request for the name meanwhile is a conflict, as on Daytona.
    const snapshot: FakeSnapshot = { id, name, state: 'active', errorReason: null, pendingPolls: 0, root, createdAt: new Date().toISOString() };
    this.snapshotStore.set(id, snapshot);
    if (sourceRoot) await cp(sourceRoot, root, { recursive: true });
    else await mkdir(root, { recursive: true });
    return snapshot;
  }

  private findSnapshot(key: string): FakeSnapshot | undefined {
    return this.snapshotStore.get(key) ?? [...this.snapshotStore.values()].find((snapshot) => snapshot.name === key);
  }

  /** A SnapshotDto as @daytona/api-client declares it. */
  private snapshotDto(snapshot: FakeSnapshot): Record<string, unknown> {
    let state = snapshot.state;
    if (snapshot.pendingPolls > 0) {
      snapshot.pendingPolls -= 1;
      state = 'pending';
    }
    return {
      id: snapshot.id,
      organizationId: 'org-fake',
      general: false,
      name: snapshot.name,
      state,
      size: null,
      entrypoint: null,
      cpu: 1,
      gpu: 0,
      mem: 1,
      disk: 3,
      errorReason: snapshot.errorReason,
      createdAt: snapshot.createdAt,
      updatedAt: snapshot.createdAt,
      lastUsedAt: null,
      sourceSandboxId: null,
    };
  }

  private findSandbox(key: string): FakeSandbox | undefined {
    const byId = this.sandboxes.get(key);
    if (byId && byId.state !== 'destroyed') return byId;
    return [...this.sandboxes.values()].find((sandbox) => sandbox.name === key && sandbox.state !== 'destroyed');
  }

  private destroySandbox(sandbox: FakeSandbox): void {
    if (sandbox.state === 'destroyed') return;
    sandbox.state = 'destroyed';
    for (const child of sandbox.processes) killGroup(child);
    // The sandbox vanishes under requests still in flight, as the real toolbox proxy would.
    for (const pending of sandbox.pending) pending.destroy();
    void rm(sandbox.root, { recursive: true, force: true }).catch(() => {});
  }

  private dto(sandbox: FakeSandbox): Record<string, unknown> {
    return {
      id: sandbox.id,
      name: sandbox.name,
      organizationId: 'org-fake',
      user: 'daytona',
      state: sandbox.state,
      labels: sandbox.labels,
      env: sandbox.env,
      public: false,
      networkBlockAll: false,
      target: 'us',
      cpu: 1,
      gpu: 0,
      memory: 1,
      disk: 3,
      toolboxProxyUrl: `${this.baseUrl}/toolbox`,
      createdAt: sandbox.createdAt,
      updatedAt: sandbox.createdAt,
    };
  }

  private async execute(sandbox: FakeSandbox, body: Buffer, call: FakeCall, response: ServerResponse): Promise<void> {
    const parsed = parseJson(body) as { command?: string; cwd?: string; envs?: Record<string, string>; timeout?: number };
    call.body = parsed;
    if (typeof parsed.command !== 'string') {
      call.outcome = 400;
      this.json(response, 400, { message: 'command is required', statusCode: 400 });
      return;
    }
    const cwd = parsed.cwd ? this.inside(sandbox, parsed.cwd) : sandbox.root;
    if (cwd === undefined) {
      call.outcome = 400;
      this.json(response, 400, { message: 'cwd outside the sandbox', statusCode: 400 });
      return;
    }
    // Like a sandbox image: a PATH and a HOME, plus exactly the variables the request names.
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: sandbox.root,
      LANG: 'C.UTF-8',
      ...parsed.envs,
    };
    const timeoutSeconds = parsed.timeout === undefined ? 10 : parsed.timeout;
    const child = spawn('bash', ['-c', parsed.command], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    sandbox.processes.add(child);
    const chunks: Buffer[] = [];
    let bytes = 0;
    const collect = (chunk: Buffer) => {
      if (bytes >= this.maxOutputBytes) return;
      const kept = chunk.subarray(0, this.maxOutputBytes - bytes);
      chunks.push(kept);
      bytes += kept.length;
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    let timedOut = false;
    const timer =
      timeoutSeconds > 0
        ? setTimeout(() => {
            timedOut = true;
            killGroup(child);
          }, timeoutSeconds * 1000)
        : undefined;
    const exitCode = await new Promise<number>((resolvePromise) => {
      child.on('error', () => resolvePromise(127));
      child.on('close', (code, signal) => resolvePromise(code ?? (signal ? 128 + 9 : 1)));
    });
    if (timer) clearTimeout(timer);
    sandbox.processes.delete(child);
    if (response.destroyed) return;
    if (timedOut) {
      call.outcome = 408;
      this.json(response, 408, {
        message: `command execution timeout after ${timeoutSeconds} seconds`,
        statusCode: 408,
        code: 'PROCESS_EXECUTION_TIMEOUT',
        source: 'DAYTONA_DAEMON',
      });
      return;
    }
    this.json(response, 200, { exitCode, result: Buffer.concat(chunks).toString('utf8') });
  }

  private async upload(sandbox: FakeSandbox, body: Buffer, contentType: string, call: FakeCall, response: ServerResponse): Promise<void> {
    const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
    if (!boundary) {
      call.outcome = 400;
      this.json(response, 400, { message: 'expected multipart/form-data', statusCode: 400 });
      return;
    }
    const parts = parseMultipart(body, boundary[1] ?? boundary[2]!);
    const paths = new Map<string, string>();
    const files = new Map<string, Buffer>();
    for (const part of parts) {
      const field = /^files\[(\d+)\]\.(path|file)$/.exec(part.name);
      if (!field) continue;
      if (field[2] === 'path') paths.set(field[1]!, part.data.toString('utf8'));
      else files.set(field[1]!, part.data);
    }
    const errors: string[] = [];
    for (const [index, destination] of paths) {
      const target = this.inside(sandbox, destination);
      const data = files.get(index);
      if (target === undefined || data === undefined) {
        errors.push(`${destination}: invalid`);
        continue;
      }
      await mkdir(dirname(target), { recursive: true });
      await writeFile(target, data);
    }
    if (errors.length > 0) {
      call.outcome = 400;
      // The daemon's upload errors carry no `message` (SDK-NOTES §2.5).
      this.json(response, 400, { errors, files: [...paths.values()] });
      return;
    }
    response.writeHead(200).end();
  }

  private async download(sandbox: FakeSandbox, body: Buffer, response: ServerResponse): Promise<void> {
    const { paths } = parseJson(body) as { paths?: string[] };
    const boundary = `fake${randomBytes(12).toString('hex')}`;
    const chunks: Buffer[] = [];
    for (const path of paths ?? []) {
      const target = this.inside(sandbox, path);
      let data: Buffer | undefined;
      if (target !== undefined) {
        try {
          if ((await stat(target)).isFile()) data = await readFile(target);
        } catch {
          data = undefined;
        }
      }
      const filename = path.replaceAll('\\', '\\\\').replaceAll('"', '\\"');
      if (data !== undefined) {
        chunks.push(
          Buffer.from(
            `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\nContent-Length: ${data.length}\r\n\r\n`,
          ),
          data,
          Buffer.from('\r\n'),
        );
      } else {
        const error = JSON.stringify({ message: `file not found: ${path}`, statusCode: 404, code: 'FILE_NOT_FOUND' });
        chunks.push(
          Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="error"; filename="${filename}"\r\nContent-Type: application/json\r\n\r\n${error}\r\n`),
        );
      }
    }
    chunks.push(Buffer.from(`--${boundary}--\r\n`));
    const payload = Buffer.concat(chunks);
    response.writeHead(200, { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': payload.length });
    response.end(payload);
  }

  /** Resolves a sandbox path (relative to its work directory) and refuses anything outside it. */
  private inside(sandbox: FakeSandbox, path: string): string | undefined {
    const target = resolve(sandbox.root, path.startsWith('/') ? `.${path}` : path);
    const rel = relative(sandbox.root, target);
    if (rel.startsWith('..') || rel.includes(`..${sep}`)) return undefined;
    return target;
  }

  private json(response: ServerResponse, status: number, value: unknown): void {
    if (response.destroyed || response.headersSent) return;
    const payload = JSON.stringify(value);
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    response.end(payload);
  }
}

/** Swallows the answer of a request whose real answer is replaced by an `after`-phase fault. */
class DiscardingResponse {
  headersSent = false;
  destroyed = false;
  on(): this {
    return this;
  }
  writeHead(): this {
    this.headersSent = true;
    return this;
  }
  end(): this {
    return this;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): unknown {
  if (body.length === 0) return {};
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return {};
  }
}

/** Enough of RFC 7578 for form-data's output: parts with a name and raw bytes. */
function parseMultipart(body: Buffer, boundary: string): Array<{ name: string; filename?: string; data: Buffer }> {
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Array<{ name: string; filename?: string; data: Buffer }> = [];
  let position = body.indexOf(delimiter);
  while (position !== -1) {
    const start = position + delimiter.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd === -1) break;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delimiter]), headerEnd + 4);
    if (next === -1) break;
    const headers = body.subarray(start, headerEnd).toString('utf8');
    const name = /name="([^"]*)"/.exec(headers)?.[1] ?? '';
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    const part: { name: string; filename?: string; data: Buffer } = { name, data: body.subarray(headerEnd + 4, next) };
    if (filename !== undefined) part.filename = filename;
    parts.push(part);
    position = next + 2;
  }
  return parts;
}

// -- Conveniences for the DaytonaSandboxRunner tests and bench -------------------------------------

/** A runner that builds its own client against the fake, with test-sized deadlines. */
export function runnerFor(fake: FakeDaytonaServer, options: DaytonaSandboxRunnerOptions = {}): DaytonaSandboxRunner {
  return new DaytonaSandboxRunner({
    apiKey: fake.apiKey,
    apiUrl: fake.apiUrl,
    target: 'us',
    useDeprecatedPolling: true,
    requestTimeoutMs: 5_000,
    createTimeoutMs: 5_000,
    deleteTimeoutMs: 5_000,
    commandGraceMs: 2_000,
    retryDelayMs: 10,
    onWarning: () => {},
    ...options,
  });
}

/** A Daytona client of the caller's own, for the injected-client path. */
export function clientFor(fake: FakeDaytonaServer): Daytona {
  return new Daytona({ apiKey: fake.apiKey, apiUrl: fake.apiUrl, target: 'us', useDeprecatedPolling: true, requestTimeoutMs: 5_000 });
}

export function openSpec(overrides: Partial<SandboxOpenSpec> = {}): SandboxOpenSpec {
  return { executionId: 'test-run', language: 'python', dependencies: [], env: {}, signal: new AbortController().signal, ...overrides };
}

export const signal = (): AbortSignal => new AbortController().signal;
