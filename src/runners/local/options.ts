import { tmpdir } from 'node:os';
import { booleanOption, durationMs, positiveInteger, rejectUnknownKeys } from '../../internal/validate.js';
import { defaultCacheDirectory } from './dependencies.js';
import type { ResourceLimits } from './isolation.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const LOCAL_SANDBOX_RUNNER_OPTION_NAMES = ['isolation', 'workspaceRoot', 'cacheDirectory', 'installTimeoutMs', 'maxCpuSeconds', 'maxMemoryBytes', 'maxProcesses', 'maxFileSizeBytes', 'maxOutputBytes', 'maxReadFileBytes', 'env', 'path', 'locale', 'readOnlyPaths', 'inheritPackageManagerConfig', 'installEnv', 'requireTypeScriptLoader', 'bwrapPath', 'prlimitPath', 'onWarning', 'warmPython', 'warmNode'] as const satisfies readonly (keyof LocalSandboxRunnerOptions)[];

export type LocalIsolation = 'auto' | 'bwrap' | 'none';

export interface LocalSandboxRunnerOptions {
  /**
   * `bwrap`: every command runs in a bubblewrap jail (open fails when bwrap is unusable).
   * `none`: no jail, only the limits and the explicit environment. `auto`: bwrap where it
   * works, otherwise `none` with a warning.
   * @default 'auto'
   */
  isolation?: LocalIsolation;
  /** Directory in which each session's temporary workspace is created. @default os.tmpdir() */
  workspaceRoot?: string;
  /**
   * Where installed dependency sets are kept and reused, keyed by the set. Created with mode
   * 0700; `open` refuses a directory not owned by the current user or writable by group/others.
   * @default join(os.tmpdir(), `ptc-agent-deps-${uid}`)
   */
  cacheDirectory?: string;
  /** Wall-clock limit of one dependency installation, in ms. @default 300000 */
  installTimeoutMs?: number;
  /** CPU seconds per process of a command (RLIMIT_CPU). @default 120 */
  maxCpuSeconds?: number;
  /** Private writable memory per process (RLIMIT_DATA), in bytes. @default 2147483648 (2 GiB) */
  maxMemoryBytes?: number;
  /** Processes a command may have at once (pids cgroup as root, RLIMIT_NPROC otherwise). @default 256 */
  maxProcesses?: number;
  /** Largest file a command may write (RLIMIT_FSIZE), in bytes. @default 268435456 (256 MiB) */
  maxFileSizeBytes?: number;
  /** Kept of stdout and of stderr each (head and tail), in bytes; the middle is dropped. @default 1048576 */
  maxOutputBytes?: number;
  /** Longest file `readFile` returns, in bytes; longer files are cut. @default 16777216 */
  maxReadFileBytes?: number;
  /** Extra environment for every command of every session (the allowlist's user part). @default {} */
  env?: Readonly<Record<string, string>>;
  /** PATH inside the sandbox. @default process.env.PATH, or '/usr/local/bin:/usr/bin:/bin' */
  path?: string;
  /** LANG inside the sandbox. @default 'C.UTF-8' */
  locale?: string;
  /** Extra host paths visible read-only inside the bwrap jail (files or directories). @default [] */
  readOnlyPaths?: readonly string[];
  /**
   * Dependency installs (never test runs) see the host's `PIP_*` and `npm_config_*` variables and
   * the user's pip.conf and .npmrc, so private indexes and mirrors keep working.
   * @default true
   */
  inheritPackageManagerConfig?: boolean;
  /** Extra environment for dependency installs only. @default {} */
  installEnv?: Readonly<Record<string, string>>;
  /**
   * For `typescript`, `open` fails with `TEST_PRESET_UNAVAILABLE` when the tsx loader does not
   * resolve in the workspace. Turn off for presets that bring their own TypeScript support: then
   * `tsx` (which the built-in preset asks for) is not installed either.
   * @default true
   */
  requireTypeScriptLoader?: boolean;
  /**
   * The bubblewrap executable: a bare name is looked up once on the host's PATH (not the
   * sandbox's `path`) and run by its absolute path. @default 'bwrap'
   */
  bwrapPath?: string;
  /**
   * The prlimit executable (util-linux) that applies the resource limits, looked up like
   * `bwrapPath`. `open` fails with `TEST_PRESET_UNAVAILABLE` when it is missing. @default 'prlimit'
   */
  prlimitPath?: string;
  /** Receives warnings (no bwrap under `auto`, a process limit that cannot be applied). @default process.emitWarning */
  onWarning?: (message: string) => void;
  /**
   * Python sessions keep one standby interpreter that has already imported pytest, started in the
   * same jail, under the same limits and environment as a test command, and used by at most one
   * run (a fresh one is started after every run). A run uses it only when it is
   * `python3 -B -m pytest …` with the session's environment as is, right after a `sync`, and no
   * synced file could shadow a module the standby imported; any other run, or a standby that is
   * dead or not answering, runs cold as before (one killed during its run from outside, by a
   * SIGKILL that is not the timeout's, runs again cold from the synced files). The preset's
   * hardened acceptance invocation (`-s`, `PYTHONSAFEPATH`) is always cold, so the verdict never
   * comes from a standby. `false` runs every command cold and starts no standby (one interpreter
   * fewer per session).
   * @default true
   */
  warmPython?: boolean;
  /**
   * JavaScript sessions keep one standby `node` that has already started and loaded `node:test`
   * with the built-in preset's reporters, started and used like `warmPython`'s. A run uses it only
   * when it is `node --test <the preset's reporters> <one test file>` (an ES module) with the
   * session's environment as is, right after a `sync`: the standby then runs that file in its own
   * process, as `node --test` runs each file in a child of its own. Runs of several files, other
   * flags, TypeScript and the acceptance invocation are cold; a file that does not load or holds no
   * test, or a run ended by `process.exit`, is run again cold. `false` runs every command cold.
   * @default true
   */
  warmNode?: boolean;
}

/** The options after defaults and validation: what the runner reads. */
export interface ResolvedLocalOptions {
  isolation: LocalIsolation;
  workspaceRoot: string;
  cacheDirectory: string;
  installTimeoutMs: number;
  limits: ResourceLimits;
  maxOutputBytes: number;
  maxReadFileBytes: number;
  env: Readonly<Record<string, string>>;
  path: string;
  locale: string;
  readOnlyPaths: readonly string[];
  inheritPackageManagerConfig: boolean;
  installEnv: Readonly<Record<string, string>>;
  requireTypeScriptLoader: boolean;
  bwrapPath: string;
  prlimitPath: string;
  onWarning: (message: string) => void;
  warmPython: boolean;
  warmNode: boolean;
}

const ENVIRONMENT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Option errors name the runner and the option, as the agent's do. */
const PREFIX = 'LocalSandboxRunner: options.';


function nonEmptyString(value: unknown, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`LocalSandboxRunner: options.${name} must be a non-empty string`);
  return value;
}

function environment(value: unknown, name: string): Readonly<Record<string, string>> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`LocalSandboxRunner: options.${name} must be an object of strings`);
  for (const [key, entry] of Object.entries(value)) {
    if (!ENVIRONMENT_NAME.test(key) || typeof entry !== 'string' || entry.includes('\u0000')) {
      throw new TypeError(`LocalSandboxRunner: options.${name}.${key} must be a string under a valid variable name`);
    }
  }
  return { ...(value as Record<string, string>) };
}

export function resolveOptions(options: LocalSandboxRunnerOptions): ResolvedLocalOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('LocalSandboxRunner: options must be an object');
  rejectUnknownKeys('LocalSandboxRunner', options, LOCAL_SANDBOX_RUNNER_OPTION_NAMES);
  const isolation = options.isolation ?? 'auto';
  if (isolation !== 'auto' && isolation !== 'bwrap' && isolation !== 'none') {
    throw new TypeError(`LocalSandboxRunner: options.isolation must be 'auto', 'bwrap' or 'none', got ${String(isolation)}`);
  }
  const readOnlyPaths = options.readOnlyPaths ?? [];
  if (!Array.isArray(readOnlyPaths) || readOnlyPaths.some((path) => typeof path !== 'string' || !path.startsWith('/'))) {
    throw new TypeError('LocalSandboxRunner: options.readOnlyPaths must be absolute paths');
  }
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') throw new TypeError('LocalSandboxRunner: options.onWarning must be a function');
  return {
    isolation,
    workspaceRoot: nonEmptyString(options.workspaceRoot, 'workspaceRoot', tmpdir()),
    cacheDirectory: nonEmptyString(options.cacheDirectory, 'cacheDirectory', defaultCacheDirectory()),
    installTimeoutMs: durationMs(`${PREFIX}installTimeoutMs`, options.installTimeoutMs, 300_000),
    limits: {
      maxCpuSeconds: positiveInteger(`${PREFIX}maxCpuSeconds`, options.maxCpuSeconds, 120),
      maxMemoryBytes: positiveInteger(`${PREFIX}maxMemoryBytes`, options.maxMemoryBytes, 2 * 1024 ** 3),
      maxProcesses: positiveInteger(`${PREFIX}maxProcesses`, options.maxProcesses, 256),
      maxFileSizeBytes: positiveInteger(`${PREFIX}maxFileSizeBytes`, options.maxFileSizeBytes, 256 * 1024 ** 2),
    },
    maxOutputBytes: positiveInteger(`${PREFIX}maxOutputBytes`, options.maxOutputBytes, 1024 ** 2),
    maxReadFileBytes: positiveInteger(`${PREFIX}maxReadFileBytes`, options.maxReadFileBytes, 16 * 1024 ** 2),
    env: environment(options.env, 'env'),
    path: nonEmptyString(options.path, 'path', process.env.PATH || '/usr/local/bin:/usr/bin:/bin'),
    locale: nonEmptyString(options.locale, 'locale', 'C.UTF-8'),
    readOnlyPaths: [...readOnlyPaths],
    inheritPackageManagerConfig: booleanOption(`${PREFIX}inheritPackageManagerConfig`, options.inheritPackageManagerConfig, true),
    installEnv: environment(options.installEnv, 'installEnv'),
    requireTypeScriptLoader: booleanOption(`${PREFIX}requireTypeScriptLoader`, options.requireTypeScriptLoader, true),
    bwrapPath: nonEmptyString(options.bwrapPath, 'bwrapPath', 'bwrap'),
    prlimitPath: nonEmptyString(options.prlimitPath, 'prlimitPath', 'prlimit'),
    onWarning: options.onWarning ?? ((message) => process.emitWarning(message, { code: 'PTC_LOCAL_RUNNER' })),
    warmPython: booleanOption(`${PREFIX}warmPython`, options.warmPython, true),
    warmNode: booleanOption(`${PREFIX}warmNode`, options.warmNode, true),
  };
}

