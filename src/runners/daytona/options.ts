/**
 * The Daytona runner's options (`DaytonaSandboxRunnerOptions`) and their validation, resolved
 * once into the `Settings` the runner and its sessions read.
 */
import type { CreateSandboxBaseParams, Daytona, DaytonaConfig, Image, Resources } from '@daytonaio/sdk';
import { normalizeRelativePath } from '../../internal/paths.js';
import { booleanOption, durationMs, integerAtLeast, rejectUnknownKeys } from '../../internal/validate.js';
import type { Language } from '../../plan.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const DAYTONA_SANDBOX_RUNNER_OPTION_NAMES = ['apiKey', 'apiUrl', 'target', 'client', 'snapshot', 'image', 'resources', 'autoStopIntervalMinutes', 'autoDeleteIntervalMinutes', 'labels', 'sandboxParams', 'createTimeoutMs', 'deleteTimeoutMs', 'requestTimeoutMs', 'installTimeoutMs', 'commandGraceMs', 'retries', 'retryDelayMs', 'useDeprecatedPolling', 'workspaceDir', 'maxOutputBytes', 'maxReadBytes', 'extraDependencies', 'installCommand', 'onWarning', 'dependencySnapshots', 'snapshotTimeoutMs'] as const satisfies readonly (keyof DaytonaSandboxRunnerOptions)[];

/** Label on every sandbox this runner creates; `sweepOrphans` deletes only sandboxes that carry it. */
export const DAYTONA_MARKER_LABEL = 'ptc-agent';
/** Label holding the (sanitised) execution id of the run that created the sandbox. */
export const DAYTONA_EXECUTION_LABEL = 'ptc-agent-execution';

export interface DaytonaSandboxRunnerOptions {
  /**
   * Daytona API key. Never appears in errors, events or warnings.
   * @default process.env.DAYTONA_API_KEY
   */
  apiKey?: string;
  /** @default process.env.DAYTONA_API_URL ?? 'https://app.daytona.io/api' */
  apiUrl?: string;
  /** Region of the sandboxes. @default process.env.DAYTONA_TARGET (else the organisation's default) */
  target?: string;
  /**
   * A Daytona client to use instead of building one (apiKey, apiUrl, target and
   * useDeprecatedPolling are then not allowed). It is never disposed by the runner. Build it with a
   * finite `requestTimeoutMs`: the runner bounds every call itself, but the SDK's default is 24 h.
   * @default undefined (the runner builds one at the first `open` and `dispose()` releases it)
   */
  client?: Daytona;
  /** Snapshot the sandboxes start from. Exclusive with `image`. @default Daytona's default snapshot */
  snapshot?: string;
  /** Image the sandboxes are built from (`'python:3.12-slim'` or an `Image`). Exclusive with `snapshot`. @default undefined */
  image?: string | Image;
  /** CPU (cores), memory and disk (GiB); only with `image`. @default Daytona's defaults */
  resources?: Resources;
  /** Minutes of inactivity after which Daytona stops a sandbox; `0` = never. @default 15 */
  autoStopIntervalMinutes?: number;
  /**
   * Minutes after stopping after which Daytona deletes a sandbox; `0` = as soon as it stops,
   * `-1` = never. With the auto-stop above this bounds how long a sandbox can outlive a crashed
   * host. @default 0
   */
  autoDeleteIntervalMinutes?: number;
  /** Extra labels on every sandbox (the `ptc-agent*` keys are reserved). @default {} */
  labels?: Readonly<Record<string, string>>;
  /** More creation parameters (networkBlockAll, domainAllowList, volumes, user, …). @default {} */
  sandboxParams?: DaytonaSandboxParams;
  /** Deadline of creating a sandbox and waiting until it has started, per attempt. @default 120000 */
  createTimeoutMs?: number;
  /** Deadline of one delete request. @default 30000 */
  deleteTimeoutMs?: number;
  /** Deadline of every other request (uploads, downloads, lookups, listing). @default 60000 */
  requestTimeoutMs?: number;
  /** Deadline of installing the dependencies at `open`. @default 300000 */
  installTimeoutMs?: number;
  /** How long past a command's own timeout to wait for the sandbox to answer. @default 10000 */
  commandGraceMs?: number;
  /** Extra attempts of calls that are safe to repeat (create, delete, reads, uploads) after a connection failure. @default 2 */
  retries?: number;
  /** Delay before the first retry, doubled for each further one. @default 250 */
  retryDelayMs?: number;
  /** Observe sandbox state by polling instead of the SDK's WebSocket. @default false */
  useDeprecatedPolling?: boolean;
  /** Sandbox directory (relative to its work directory) used as the workspace. @default 'ptc-workspace' */
  workspaceDir?: string;
  /** Kept of each of stdout and stderr per command, in bytes; the middle of longer output is cut in the sandbox. @default 1048576 */
  maxOutputBytes?: number;
  /** Largest file `readFile` accepts, in bytes. @default 10485760 */
  maxReadBytes?: number;
  /** Installed at every `open` in addition to the plan's dependencies, per language (e.g. `{ python: ['pytest'] }` for an image without pytest). @default {} */
  extraDependencies?: Partial<Record<Language, readonly string[]>>;
  /**
   * argv that installs packages in the workspace.
   * @default python: `python3 -m pip install --disable-pip-version-check --no-input --quiet …`;
   *   javascript/typescript: `npm install --no-audit --no-fund --loglevel=error …`
   */
  installCommand?: (language: Language, dependencies: readonly string[]) => readonly string[];
  /** Told about problems that do not fail a run (a sandbox that could not be deleted). @default process.emitWarning */
  onWarning?: (message: string, cause?: unknown) => void;
  /**
   * One Daytona snapshot per dependency set (named `ptc-deps-<language>-<hash>` from the language,
   * the sorted dependencies, the install command and the base image or snapshot): the first
   * session of a set installs and then snapshots its sandbox, later ones start from the snapshot
   * and install nothing. Concurrent sessions of one runner wait for the first one's snapshot. A
   * snapshot that cannot be made or used means a plain sandbox that installs, and a
   * `SNAPSHOT_FAILED` warning for the run. The snapshots stay in your Daytona organisation until
   * you delete them. `false`: every session installs its dependencies. @default true
   */
  dependencySnapshots?: boolean;
  /** Deadline of making a dependency snapshot, and of waiting for one another session is making. @default 300000 */
  snapshotTimeoutMs?: number;
}

/** Creation parameters passed through to Daytona (network policy, volumes, …); those the runner sets itself are left out. */
export type DaytonaSandboxParams = Omit<
  CreateSandboxBaseParams,
  'name' | 'language' | 'labels' | 'envVars' | 'autoStopInterval' | 'autoDeleteInterval' | 'ephemeral'
>;

/** The runner's options, resolved and validated once (in its constructor); what sessions read. */
export interface Settings {
  snapshot: string | undefined;
  image: string | Image | undefined;
  resources: Resources | undefined;
  autoStopIntervalMinutes: number;
  autoDeleteIntervalMinutes: number;
  labels: Readonly<Record<string, string>>;
  sandboxParams: DaytonaSandboxParams;
  createTimeoutMs: number;
  deleteTimeoutMs: number;
  requestTimeoutMs: number;
  installTimeoutMs: number;
  commandGraceMs: number;
  retries: number;
  retryDelayMs: number;
  workspaceDir: string;
  outputDir: string;
  maxOutputBytes: number;
  maxReadBytes: number;
  extraDependencies: Partial<Record<Language, readonly string[]>>;
  installCommand: (language: Language, dependencies: readonly string[]) => readonly string[];
  warn: (message: string, cause?: unknown) => void;
  dependencySnapshots: boolean;
  snapshotTimeoutMs: number;
}

/** Seconds for the SDK's per-call `timeout` parameters, never 0 (which would mean "no limit"). */
export function toSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

function defaultInstallCommand(language: Language, dependencies: readonly string[]): readonly string[] {
  if (language === 'python') {
    return ['python3', '-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', '--quiet', ...dependencies];
  }
  return ['npm', 'install', '--no-audit', '--no-fund', '--loglevel=error', ...dependencies];
}

/** What the constructor needs beyond `Settings`: how to reach Daytona, and what to scrub. */
export interface ResolvedDaytonaOptions {
  readonly settings: Settings;
  readonly clientConfig: DaytonaConfig;
  /** A client the caller built (then `clientConfig` is not used). */
  readonly client: Daytona | undefined;
  /** Values never to show in errors, events or warnings (the API key). */
  readonly secrets: readonly string[];
}

/** Validates the options (a clear TypeError naming the option) and applies their defaults. */
export function resolveDaytonaOptions(options: DaytonaSandboxRunnerOptions): ResolvedDaytonaOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('DaytonaSandboxRunner: options must be an object');
  rejectUnknownKeys('DaytonaSandboxRunner', options, DAYTONA_SANDBOX_RUNNER_OPTION_NAMES);
  const connectionKeys = (['apiKey', 'apiUrl', 'target', 'useDeprecatedPolling'] as const).filter((key) => options[key] !== undefined);
  if (options.client !== undefined) {
    if (typeof options.client !== 'object' || typeof options.client.create !== 'function') {
      throw new TypeError('DaytonaSandboxRunner: client must be a Daytona instance');
    }
    if (connectionKeys.length > 0) {
      throw new TypeError(`DaytonaSandboxRunner: ${connectionKeys[0]} cannot be combined with client (configure the client instead)`);
    }
  }
  const apiKey = options.apiKey ?? process.env.DAYTONA_API_KEY;
  if (options.client === undefined && (typeof apiKey !== 'string' || apiKey.length === 0)) {
    throw new TypeError('DaytonaSandboxRunner: apiKey is required (or set DAYTONA_API_KEY, or pass client)');
  }
  const apiUrl = options.apiUrl ?? process.env.DAYTONA_API_URL ?? 'https://app.daytona.io/api';
  try {
    new URL(apiUrl);
  } catch {
    throw new TypeError(`DaytonaSandboxRunner: apiUrl must be a URL, got ${JSON.stringify(apiUrl.slice(0, 200))}`);
  }
  if (options.snapshot !== undefined && options.image !== undefined) {
    throw new TypeError('DaytonaSandboxRunner: snapshot and image are exclusive');
  }
  if (options.resources !== undefined && options.image === undefined) {
    throw new TypeError('DaytonaSandboxRunner: resources needs image (Daytona sizes snapshots itself)');
  }
  const labels = { ...options.labels };
  for (const [key, value] of Object.entries(labels)) {
    if (key.startsWith(DAYTONA_MARKER_LABEL)) throw new TypeError(`DaytonaSandboxRunner: labels.${key} is reserved`);
    if (typeof value !== 'string') throw new TypeError(`DaytonaSandboxRunner: labels.${key} must be a string`);
  }
  let workspaceDir: string;
  try {
    workspaceDir = normalizeRelativePath(options.workspaceDir ?? 'ptc-workspace');
  } catch {
    throw new TypeError('DaytonaSandboxRunner: workspaceDir must be a safe relative path');
  }
  for (const name of ['installCommand', 'onWarning'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`DaytonaSandboxRunner: ${name} must be a function`);
  }
  const requestTimeoutMs = durationMs('DaytonaSandboxRunner: requestTimeoutMs', options.requestTimeoutMs, 60_000);
  const settings: Settings = {
    snapshot: options.snapshot,
    image: options.image,
    resources: options.resources,
    autoStopIntervalMinutes: integerAtLeast('DaytonaSandboxRunner: autoStopIntervalMinutes', options.autoStopIntervalMinutes, 15, 0),
    autoDeleteIntervalMinutes: integerAtLeast('DaytonaSandboxRunner: autoDeleteIntervalMinutes', options.autoDeleteIntervalMinutes, 0, -1),
    labels,
    sandboxParams: { ...options.sandboxParams },
    createTimeoutMs: durationMs('DaytonaSandboxRunner: createTimeoutMs', options.createTimeoutMs, 120_000),
    deleteTimeoutMs: durationMs('DaytonaSandboxRunner: deleteTimeoutMs', options.deleteTimeoutMs, 30_000),
    requestTimeoutMs,
    installTimeoutMs: durationMs('DaytonaSandboxRunner: installTimeoutMs', options.installTimeoutMs, 300_000),
    commandGraceMs: durationMs('DaytonaSandboxRunner: commandGraceMs', options.commandGraceMs, 10_000, 0),
    retries: integerAtLeast('DaytonaSandboxRunner: retries', options.retries, 2, 0),
    retryDelayMs: durationMs('DaytonaSandboxRunner: retryDelayMs', options.retryDelayMs, 250, 0),
    workspaceDir,
    outputDir: '.ptc-agent-output',
    maxOutputBytes: integerAtLeast('DaytonaSandboxRunner: maxOutputBytes', options.maxOutputBytes, 1_048_576, 64),
    maxReadBytes: integerAtLeast('DaytonaSandboxRunner: maxReadBytes', options.maxReadBytes, 10_485_760, 1),
    extraDependencies: { ...options.extraDependencies },
    installCommand: options.installCommand ?? defaultInstallCommand,
    warn: options.onWarning ?? ((message) => process.emitWarning(message, { code: 'PTC_DAYTONA' })),
    dependencySnapshots: booleanOption('DaytonaSandboxRunner: dependencySnapshots', options.dependencySnapshots, true),
    snapshotTimeoutMs: durationMs('DaytonaSandboxRunner: snapshotTimeoutMs', options.snapshotTimeoutMs, 300_000),
  };
  const target = options.target ?? process.env.DAYTONA_TARGET;
  const clientConfig: DaytonaConfig = {
    apiUrl,
    requestTimeoutMs,
    useDeprecatedPolling: options.useDeprecatedPolling ?? false,
    ...(apiKey === undefined ? {} : { apiKey }),
    ...(target === undefined ? {} : { target }),
  };
  return { settings, clientConfig, client: options.client, secrets: apiKey === undefined ? [] : [apiKey] };
}
