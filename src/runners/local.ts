import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  CommandResult,
  SandboxOpenSpec,
  SandboxPreflightSpec,
  SandboxRunner,
  SandboxSession,
} from '../contracts/sandbox-runner.js';
import { isPTCError, SandboxError } from '../errors.js';
import { abortReason, raceAbort, throwIfAborted } from '../internal/async.js';
import type { Language } from '../plan.js';
import { ensureDependencies, type InstalledDependencies, prepareCacheDirectory } from './local/dependencies.js';
import { findPidsCgroupParent, probe, probeBubblewrap } from './local/isolation.js';
import { pythonWarmPlan, WARM_PYTHON_BOOTSTRAP, WARM_PYTHON_FLAGS } from './local/warm-python.js';
import { nodeStandbyArgv, nodeWarmPlan } from './local/warm-node.js';
import {
  FALLBACK_PATH,
  findExecutable,
  NODE_PROBE,
  parseNodeProbe,
  parsePytestPlugins,
  parsePythonProbe,
  PYTEST_PLUGINS_PROBE,
  PYTHON_PROBE,
  unavailable,
  withPytestPlugins,
} from './local/toolchain.js';
import { type HostCapabilities, HostCommands } from './local/commands.js';
import { Workspace } from './local/workspace.js';
import { type LocalSandboxRunnerOptions, type ResolvedLocalOptions, resolveOptions } from './local/options.js';
import { LocalSandboxSession } from './local/session.js';

export type { LocalIsolation, LocalSandboxRunnerOptions } from './local/options.js';


/**
 * What a language's tests need on this machine, checked where the tests run (same jail, same
 * environment) before the first session opens.
 */
interface Toolchain {
  /**
   * argv[0] names mapped to the real executables behind them (`python3` → the interpreter a pyenv
   * shim would exec), so no command pays for a shim, and the sandbox's PATH cannot swap them.
   */
  readonly executables: ReadonlyMap<string, string>;
  /** Python: why pytest does not import with that interpreter, and how to fix it; unset when it does. */
  readonly pytestProblem?: string;
}

/** The preflight checks start an interpreter and import a framework: generous on a loaded machine. */
const PREFLIGHT_TIMEOUT_MS = 60_000;
/** A dependency spec that installs pytest itself (`pytest`, `pytest==8.3`, `pytest[testing]`). */
const PYTEST_SPEC = /^pytest\s*(?:$|[[<>=!~;@( ])/i;


/**
 * The embedded default runner: each session is a fresh temporary workspace on this machine,
 * commands run in a bubblewrap jail where available, always under resource limits, a
 * wall-clock timeout that kills the whole process tree, capped output and an explicit
 * environment (never the host's `process.env`).
 */
export class LocalSandboxRunner implements SandboxRunner {
  readonly id = 'local';
  private readonly options: ResolvedLocalOptions;
  private readonly commands: HostCommands;
  private capabilities: Promise<HostCapabilities> | undefined;
  private readonly toolchains = new Map<string, Promise<Toolchain>>();
  private readonly plugins = new Map<string, Promise<string[]>>();
  private readonly warned = new Set<string>();

  constructor(options: LocalSandboxRunnerOptions = {}) {
    this.options = resolveOptions(options);
    this.commands = new HostCommands(this.options);
  }

  /** The isolation sessions get on this machine: `bwrap` or `none` (probes once). */
  async effectiveIsolation(): Promise<'bwrap' | 'none'> {
    return (await this.host()).bwrap ? 'bwrap' : 'none';
  }

  /**
   * Checks, without opening a session, what `open` checks first for `language`: prlimit, bwrap
   * per the isolation option, and the preset's toolchain (python3 with pytest; node). Rejects
   * with `TEST_PRESET_UNAVAILABLE` naming what is missing and how to install it. Call it at
   * start-up to fail before any work is accepted; `open` does the same check (once per runner).
   */
  /**
   * Checks the toolchain of a language (see above) without opening a session: the agent calls it
   * before the first model call. `preflight('python')` is short for no dependencies, no env.
   */
  async preflight(target: Language | Partial<SandboxPreflightSpec> & { language: Language }): Promise<void> {
    const spec = typeof target === 'string' ? { language: target } : target;
    const signal = spec.signal ?? new AbortController().signal;
    throwIfAborted(signal);
    const host = await raceAbort(this.host(), signal);
    const toolchain = await raceAbort(this.toolchain(host, spec.language, this.baseEnvironment(spec.language, spec.env ?? {})), signal);
    // A plan that installs pytest itself brings what the interpreter lacks.
    if (toolchain.pytestProblem !== undefined && !(spec.dependencies ?? []).some((dependency) => PYTEST_SPEC.test(dependency.trim()))) {
      throw unavailable(toolchain.pytestProblem);
    }
  }

  async open(spec: SandboxOpenSpec): Promise<SandboxSession> {
    throwIfAborted(spec.signal);
    // What the error path removes: the workspace, or for a warm session the directory holding it.
    let sessionDirectory: string | undefined;
    try {
      const host = await raceAbort(this.host(), spec.signal);
      const base = this.baseEnvironment(spec.language, spec.env);
      // Before the workspace, the install and anything else that costs: a machine that cannot run
      // these tests says so now, naming what is missing.
      const toolchain = await raceAbort(this.toolchain(host, spec.language, base), spec.signal);
      // `requireTypeScriptLoader: false` means the loader comes from elsewhere: the built-in
      // preset's `tsx` is not installed (from npm, per dependency set) for nothing.
      const dependencies = [...new Set(spec.dependencies)].filter(
        (dependency) => this.options.requireTypeScriptLoader || spec.language !== 'typescript' || dependency !== 'tsx',
      );
      // A plan that installs pytest itself brings what the interpreter lacks.
      if (toolchain.pytestProblem !== undefined && !dependencies.some((dependency) => PYTEST_SPEC.test(dependency.trim()))) {
        throw unavailable(toolchain.pytestProblem);
      }
      throwIfAborted(spec.signal);
      // Said to every run, not once per process: each bundle must tell how its tests were confined.
      if (!host.bwrap && this.options.isolation === 'auto') {
        spec.onWarning?.('ISOLATION_NONE', 'bubblewrap (bwrap) is not usable on this machine: the tests ran WITHOUT a filesystem/network jail, only with resource limits and an explicit environment');
      }
      await mkdir(this.options.workspaceRoot, { recursive: true });
      sessionDirectory = await realpath(await mkdtemp(join(this.options.workspaceRoot, 'ptc-workspace-')));
      // A session that runs only acceptance tests (always cold) gets no standby to start for nothing.
      const warm = spec.prepareTestRuns !== false && ((this.options.warmPython && spec.language === 'python') || (this.options.warmNode && spec.language === 'javascript'));
      // A warm standby is jailed before the sync that recreates the workspace; a bind mount of the
      // workspace itself would keep showing the old, deleted tree. It binds a private directory
      // holding the workspace instead, which the session keeps empty but for it (see `sync`).
      const workspaceDirectory = warm ? join(sessionDirectory, 'w') : sessionDirectory;
      if (warm) await mkdir(workspaceDirectory, { mode: 0o755 });
      const scratch = join(workspaceDirectory, '.ptc', 'tmp');

      let installed: InstalledDependencies | undefined;
      if (dependencies.length > 0) {
        const started = performance.now();
        const cacheDirectory = await prepareCacheDirectory(this.options.cacheDirectory);
        const python = toolchain.executables.get('python3');
        installed = await ensureDependencies({
          language: spec.language,
          dependencies,
          cacheDirectory,
          installTimeoutMs: this.options.installTimeoutMs,
          signal: spec.signal,
          execute: (argv, options) => this.commands.executeInstall(host, cacheDirectory, argv, options),
          ...(python ? { python } : {}),
        });
        spec.onDependenciesInstalled?.({ count: dependencies.length, durationMs: performance.now() - started, reused: installed.reused });
      }
      if (spec.language === 'typescript' && this.options.requireTypeScriptLoader) {
        if (!installed || !existsSync(join(installed.modulesDirectory, 'tsx', 'package.json'))) {
          throw new SandboxError(
            "TypeScript tests need the tsx loader (node --import tsx): add 'tsx' to the dependencies (the built-in TypeScript preset's requiredDependencies do) and make sure `npm install tsx` works on this machine",
            { code: 'TEST_PRESET_UNAVAILABLE' },
          );
        }
      }
      // Only the plugins of this session's own dependency set are loaded (see `hermetic` below).
      const pytestPlugins = installed?.ecosystem === 'python' ? await raceAbort(this.pytestPlugins(host, installed, toolchain), spec.signal) : [];
      throwIfAborted(spec.signal);

      const env: Record<string, string> = {
        ...base,
        HOME: workspaceDirectory,
        TMPDIR: scratch,
        ...(installed?.ecosystem === 'python' ? { PYTHONPATH: installed.modulesDirectory } : {}),
        // The caller's variables win, as before (a PYTHONPATH of their own included).
        ...this.options.env,
        ...spec.env,
      };
      const modules = installed?.ecosystem === 'node' ? installed.modulesDirectory : undefined;
      // What every fresh workspace gets again after a sync: the scratch directory TMPDIR points
      // at, and the link to the installed node_modules.
      const scaffold = async (root: string) => {
        await mkdir(join(root, '.ptc', 'tmp'), { recursive: true });
        if (modules) await symlink(modules, join(root, 'node_modules'), 'dir');
      };
      await scaffold(workspaceDirectory);
      const readOnlyPaths = installed ? [installed.directory, ...this.options.readOnlyPaths] : this.options.readOnlyPaths;
      const python = toolchain.executables.get('python3') ?? 'python3';
      const node = toolchain.executables.get('node') ?? 'node';
      const warmDirectory = sessionDirectory;
      // Same prefix, jail and limits as a test command; only the workspace bound is the session
      // directory, and the standby starts there (the workspace may be replaced).
      const startStandby = (argv: readonly string[]) => () =>
        this.commands.launch(host, argv, {
          cwd: warmDirectory,
          env,
          jail: host.bwrap ? { workspace: warmDirectory, readOnlyPaths, writablePaths: [], network: false } : undefined,
          limits: this.options.limits,
          controlChannel: true,
        });
      const session = new LocalSandboxSession({
        workspace: new Workspace(workspaceDirectory, scaffold),
        sessionDirectory,
        env,
        readOnlyPaths,
        jailed: host.bwrap,
        ...(warm && spec.language === 'python'
          ? {
              warm: {
                start: startStandby([python, ...WARM_PYTHON_FLAGS, '-c', WARM_PYTHON_BOOTSTRAP]),
                plan: (argv, cwd, syncedPaths) => pythonWarmPlan(argv, python, cwd, syncedPaths),
              },
            }
          : {}),
        ...(warm && spec.language === 'javascript'
          ? { warm: { start: startStandby(nodeStandbyArgv(node, workspaceDirectory)), plan: (argv, cwd) => nodeWarmPlan(argv, node, cwd) } }
          : {}),
        execute: (argv, options) => this.commands.execute(host, argv, options),
        prepare: (command) => {
          // The one place a test command is adjusted: pytest gets exactly the plan's plugins, and
          // argv[0] the executable the preflight resolved (the preset keeps `python3`/`node`).
          const argv = withPytestPlugins(command, pytestPlugins);
          const executable = toolchain.executables.get(argv[0]!);
          if (executable) argv[0] = executable;
          return argv;
        },
        maxReadFileBytes: this.options.maxReadFileBytes,
        limits: this.options.limits,
      });
      sessionDirectory = undefined;
      return session;
    } catch (error) {
      if (sessionDirectory) await rm(sessionDirectory, { recursive: true, force: true }).catch(() => {});
      if (spec.signal.aborted) throw abortReason(spec.signal);
      if (isPTCError(error)) throw error;
      throw new SandboxError(`Could not open a local sandbox: ${error instanceof Error ? error.message : String(error)}`, {
        code: 'SANDBOX_OPEN_FAILED',
        cause: error,
      });
    }
  }

  /**
   * What every command of a session sees, the workspace-specific parts aside (the preflight
   * probes run with it too). For Python, `PYTEST_DISABLE_PLUGIN_AUTOLOAD` keeps the host's
   * installed pytest plugins (hypothesis, pytest-benchmark…) out of every run: they cost start-up
   * time and change how tests behave depending on the machine. The plan's own plugins are passed
   * as `-p` instead. The caller's `env` can still turn autoloading back on.
   */
  private baseEnvironment(language: Language, openEnv: Readonly<Record<string, string>>): Record<string, string> {
    return {
      PATH: this.options.path,
      LANG: this.options.locale,
      // Python validates a cached .pyc by the source's mtime in whole seconds and its size: a
      // refinement that changes `a + b` to `a - b` within the same second would run stale code.
      PYTHONDONTWRITEBYTECODE: '1',
      ...(language === 'python' ? { PYTEST_DISABLE_PLUGIN_AUTOLOAD: '1' } : {}),
      ...this.options.env,
      ...openEnv,
    };
  }

  private host(): Promise<HostCapabilities> {
    this.capabilities ??= this.probeHost();
    // A failed probe (bwrap demanded but missing) is retried on the next open.
    this.capabilities.catch(() => {
      this.capabilities = undefined;
    });
    return this.capabilities;
  }

  private async probeHost(): Promise<HostCapabilities> {
    const root = process.getuid?.() === 0;
    // Looked up on the host's PATH, once: these run outside the sandbox, and a `path` option that
    // only holds a Python bin folder must not turn every command into `prlimit: not found`.
    const hostPath = process.env.PATH || FALLBACK_PATH;
    const prlimitPath = findExecutable(this.options.prlimitPath, hostPath);
    const bwrapPath = this.options.isolation === 'none' ? undefined : findExecutable(this.options.bwrapPath, hostPath);
    const [bwrap, prlimit, pidsCgroupParent] = await Promise.all([
      bwrapPath ? probeBubblewrap(bwrapPath) : Promise.resolve(false),
      prlimitPath ? probe(prlimitPath, ['--version']) : Promise.resolve(false),
      root ? findPidsCgroupParent() : Promise.resolve(undefined),
    ]);
    // Without prlimit no command gets its CPU, memory, process and file-size limits: every command
    // would run unbounded but for the clock, so the runner refuses rather than degrading silently.
    if (!prlimitPath || !prlimit) {
      throw unavailable(
        `prlimit (util-linux), which applies the CPU, memory, process and file-size limits to every command, ${prlimitPath ? `(${prlimitPath}) does not run` : `was not found on the host's PATH (${hostPath})`}. Install util-linux (\`apt-get install util-linux\`, \`dnf install util-linux\`, \`apk add util-linux\`) or set the runner's prlimitPath option.`,
      );
    }
    if (this.options.isolation === 'bwrap' && !bwrap) {
      throw unavailable(
        bwrapPath
          ? `isolation 'bwrap' was requested but bubblewrap (${bwrapPath}) cannot create namespaces here: allow unprivileged user namespaces (\`sysctl kernel.unprivileged_userns_clone=1\`, or on Ubuntu 24.04 \`sysctl kernel.apparmor_restrict_unprivileged_userns=0\`), or choose isolation 'auto' or 'none'.`
          : `isolation 'bwrap' was requested but bubblewrap (${this.options.bwrapPath}) was not found on the host's PATH (${hostPath}). Install it (\`apt-get install bubblewrap\`, \`dnf install bubblewrap\`, \`apk add bubblewrap\`) or set the runner's bwrapPath option.`,
      );
    }
    if (this.options.isolation === 'auto' && !bwrap) {
      this.warn('bwrap', 'bubblewrap (bwrap) is not usable on this machine: generated code runs WITHOUT a filesystem/network jail, only with resource limits and an explicit environment. Install bubblewrap, or pass isolation: \'none\' to silence this warning.');
    }
    if (root && !pidsCgroupParent) {
      this.warn('nproc', 'running as root without a writable pids cgroup: the kernel does not apply RLIMIT_NPROC to root, so the process limit (maxProcesses) is not enforced.');
    }
    return { bwrap, prlimitPath, bwrapPath: bwrap ? bwrapPath : undefined, pidsCgroupParent, root };
  }

  /**
   * The toolchain a language's tests need, checked once per runner (and environment) where the
   * tests run. A check that found something missing is not kept: the next open checks again, so
   * installing the tool fixes the runner without a restart.
   */
  private toolchain(host: HostCapabilities, language: Language, env: Readonly<Record<string, string>>): Promise<Toolchain> {
    // Keyed by the environment too: a PATH or PYTHONPATH given at open can change the answer.
    const key = createHash('sha256').update(JSON.stringify([language, Object.entries(env).sort()])).digest('hex');
    let checked = this.toolchains.get(key);
    if (!checked) {
      checked = this.checkToolchain(host, language, env);
      this.toolchains.set(key, checked);
      checked.then(
        (toolchain) => {
          if (toolchain.pytestProblem !== undefined) this.toolchains.delete(key);
        },
        () => this.toolchains.delete(key),
      );
    }
    return checked;
  }

  private async checkToolchain(host: HostCapabilities, language: Language, env: Readonly<Record<string, string>>): Promise<Toolchain> {
    const searchPath = env.PATH ?? this.options.path;
    if (language === 'python') {
      // By name, as the preset writes it: the shim runs this once and says what it stands for.
      const probe = parsePythonProbe(await this.runProbe(host, ['python3', '-c', PYTHON_PROBE], env), searchPath);
      const interpreter = probe.executable ?? 'python3';
      return {
        executables: new Map(probe.executable ? [['python3', probe.executable]] : []),
        ...(probe.pytest === undefined
          ? {
              pytestProblem: `pytest does not import with ${interpreter} (Python ${probe.version}, found on the sandbox PATH ${searchPath}): ${probe.pytestError ?? 'no error was printed'}. Install it for that interpreter (\`${interpreter} -m pip install pytest\`, or \`apt-get install python3-pytest\` for the system Python), or add 'pytest' to the plan's dependencies.`,
            }
          : {}),
      };
    }
    const probe = parseNodeProbe(await this.runProbe(host, ['node', '-e', NODE_PROBE], env), searchPath);
    return { executables: new Map(probe.executable ? [['node', probe.executable]] : []) };
  }

  /** Runs a preflight probe in a throwaway directory, jailed and limited as a test command is. */
  private async runProbe(
    host: HostCapabilities,
    argv: readonly string[],
    env: Readonly<Record<string, string>>,
    readOnlyPaths: readonly string[] = [],
  ): Promise<CommandResult> {
    // Not in workspaceRoot: that holds sessions only, and an aborted open must leave it empty.
    const directory = await realpath(await mkdtemp(join(tmpdir(), 'ptc-preflight-')));
    try {
      return await this.commands.execute(host, argv, {
        cwd: directory,
        env: { ...env, HOME: directory, TMPDIR: directory },
        timeoutMs: PREFLIGHT_TIMEOUT_MS,
        // Shared by every open waiting on it: one caller's abort must not fail the others.
        signal: new AbortController().signal,
        jail: host.bwrap ? { workspace: directory, readOnlyPaths: [...readOnlyPaths, ...this.options.readOnlyPaths], writablePaths: [], network: false } : undefined,
        limits: this.options.limits,
      });
    } finally {
      await rm(directory, { recursive: true, force: true, maxRetries: 3 }).catch(() => {});
    }
  }

  /**
   * The `pytest11` plugins of one installed dependency set, listed once per runner. Only that
   * directory is asked, so a plugin the host happens to have is never among them.
   */
  private pytestPlugins(host: HostCapabilities, installed: InstalledDependencies, toolchain: Toolchain): Promise<string[]> {
    const python = toolchain.executables.get('python3') ?? 'python3';
    const key = `${python}\u0000${installed.directory}`;
    let listed = this.plugins.get(key);
    if (!listed) {
      listed = (async () => {
        const result = await this.runProbe(host, [python, '-I', '-S', '-c', PYTEST_PLUGINS_PROBE, installed.modulesDirectory], {
          PATH: this.options.path,
          LANG: this.options.locale,
        }, [installed.directory]).then((result) => (result.exitCode === 0 ? result : Promise.reject(new Error(`exit code ${result.exitCode ?? 'none'}: ${result.stderr.trim().slice(-500)}`))));
        const { modules, rejected } = parsePytestPlugins(result.stdout);
        if (rejected.length > 0) this.warn(`plugins:${key}`, `ignored pytest11 entry points that are not module names in ${installed.directory}: ${rejected.map((value) => JSON.stringify(value)).join(', ')}`);
        return modules;
      })().catch((error: unknown) => {
        this.plugins.delete(key);
        throw new SandboxError(`Could not list the pytest plugins of the installed dependencies: ${error instanceof Error ? error.message : String(error)}`, {
          code: 'SANDBOX_OPEN_FAILED',
          cause: error,
        });
      });
      this.plugins.set(key, listed);
    }
    return listed;
  }

  private warn(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.options.onWarning(`LocalSandboxRunner: ${message}`);
  }
}
