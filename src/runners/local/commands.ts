/**
 * How the local runner starts commands on this machine: under the resource limits (prlimit, a
 * pids cgroup as root), in the bubblewrap jail when there is one, with capped output, a timeout
 * that kills the whole tree, and an explicit environment. Test commands, warm standbys and
 * dependency installs all start here.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { CommandResult } from '../../contracts/sandbox-runner.js';
import { abortReason } from '../../internal/async.js';
import { SandboxError } from '../../errors.js';
import { bubblewrapArguments, PidsCgroup, prlimitArguments, processLimit, type ResourceLimits } from './isolation.js';
import type { ResolvedLocalOptions } from './options.js';
import { KILL_GRACE_MS, launchProcess } from './process.js';
import type { ExecuteOptions } from './session.js';
import type { StandbyHandle } from './standby.js';

/** What this machine offers, found out once per runner on the first `open`. */
export interface HostCapabilities {
  bwrap: boolean;
  /** Absolute: the sandbox's PATH (the `path` option) must not decide which program applies the limits. */
  prlimitPath: string;
  /** Absolute; set when `bwrap` is true. */
  bwrapPath: string | undefined;
  /** Parent for per-command pids cgroups; only used as root, where RLIMIT_NPROC does not apply. */
  pidsCgroupParent: string | undefined;
  root: boolean;
}

export interface LaunchSpec {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  readonly jail: { workspace: string; readOnlyPaths: readonly string[]; writablePaths: readonly string[]; network: boolean } | undefined;
  readonly limits: ResourceLimits | undefined;
  readonly controlChannel?: boolean;
}

/** Starts commands on this host for one runner, with its options (output cap, PATH, install settings). */
export class HostCommands {
  constructor(private readonly options: ResolvedLocalOptions) {}

  /** Runs argv under the limits, in the jail when there is one; owns the per-command pids cgroup. */
  async execute(host: HostCapabilities, argv: readonly string[], options: ExecuteOptions): Promise<CommandResult> {
    if (options.signal.aborted) throw abortReason(options.signal);
    const launched = await this.launch(host, argv, options);
    try {
      return await launched.process.arm(options.timeoutMs, options.signal, options.onOutput);
    } finally {
      await launched.dispose();
    }
  }

  /**
   * Starts argv under the limits, in the jail when there is one, without starting its clock
   * (`arm` does): what `execute` runs, and what a warm standby is. `dispose` (idempotent) kills
   * what is left and removes the pids cgroup.
   */
  async launch(host: HostCapabilities, argv: readonly string[], options: LaunchSpec): Promise<StandbyHandle> {
    const prefix: string[] = [];
    let cgroup: PidsCgroup | undefined;
    try {
      if (options.limits) {
        if (host.root && host.pidsCgroupParent) {
          cgroup = await PidsCgroup.create(host.pidsCgroupParent, options.limits.maxProcesses).catch(() => undefined);
          if (cgroup) prefix.push(...cgroup.wrapperArguments());
        }
        prefix.push(host.prlimitPath, ...prlimitArguments(options.limits, host.root ? undefined : processLimit(options.limits.maxProcesses)));
      }
      if (options.jail) {
        if (!host.bwrapPath) throw new SandboxError('bubblewrap is not usable here', { code: 'SANDBOX_FAILED' });
        prefix.push(
          host.bwrapPath,
          ...bubblewrapArguments({
            workspace: options.jail.workspace,
            readOnlyPaths: options.jail.readOnlyPaths,
            writablePaths: options.jail.writablePaths,
            network: options.jail.network,
            hostPath: options.env.PATH ?? this.options.path,
          }),
        );
      }
      const activeCgroup = cgroup;
      const child = launchProcess([...prefix, ...argv], {
        cwd: options.cwd,
        env: options.env,
        maxOutputBytes: this.options.maxOutputBytes,
        signalAsExitCode: options.jail !== undefined,
        ...(options.controlChannel ? { controlChannel: true } : {}),
        ...(activeCgroup ? { killAll: () => activeCgroup.killAll() } : {}),
      });
      let disposed: Promise<void> | undefined;
      return {
        process: child,
        dispose: () =>
          (disposed ??= (async () => {
            child.kill();
            // Gone, not just signalled: a standby killed at close must not be listed afterwards.
            await child.waitForExit(KILL_GRACE_MS);
            await activeCgroup?.dispose();
          })()),
      };
    } catch (error) {
      await cgroup?.dispose();
      throw error;
    }
  }

  executeInstall(
    host: HostCapabilities,
    cacheDirectory: string,
    argv: readonly string[],
    options: { cwd: string; writablePaths: readonly string[]; timeoutMs: number; signal: AbortSignal },
  ): Promise<CommandResult> {
    const downloads = join(cacheDirectory, 'downloads');
    const env: Record<string, string> = { PATH: this.options.path, HOME: downloads, LANG: this.options.locale, TMPDIR: options.cwd };
    const readOnlyPaths = [...this.options.readOnlyPaths];
    if (this.options.inheritPackageManagerConfig) {
      for (const [name, value] of Object.entries(process.env)) {
        if (value !== undefined && /^(PIP_|npm_config_|NPM_CONFIG_)/.test(name)) env[name] = value;
      }
      const home = safeHomedir();
      if (home) {
        const pipConfig = [join(home, '.config', 'pip', 'pip.conf'), join(home, '.pip', 'pip.conf')].find((file) => existsSync(file));
        if (pipConfig && env.PIP_CONFIG_FILE === undefined) env.PIP_CONFIG_FILE = pipConfig;
        const npmrc = join(home, '.npmrc');
        if (existsSync(npmrc) && env.NPM_CONFIG_USERCONFIG === undefined && env.npm_config_userconfig === undefined) env.NPM_CONFIG_USERCONFIG = npmrc;
      }
      for (const name of ['PIP_CONFIG_FILE', 'NPM_CONFIG_USERCONFIG', 'npm_config_userconfig']) {
        const file = env[name];
        if (file?.startsWith('/')) readOnlyPaths.push(file);
      }
    }
    // Downloads are shared by every set; the installed set itself is built in `options.cwd`.
    env.PIP_CACHE_DIR = join(downloads, 'pip');
    env.npm_config_cache = join(downloads, 'npm');
    Object.assign(env, this.options.installEnv);
    return this.execute(host, argv, {
      cwd: options.cwd,
      env,
      timeoutMs: options.timeoutMs,
      signal: options.signal,
      // Installs need the network; they still get the read-only system and masked homes.
      jail: host.bwrap ? { workspace: options.cwd, readOnlyPaths, writablePaths: options.writablePaths, network: true } : undefined,
      // Compilers and big wheels legitimately exceed the test limits; the timeout bounds installs.
      limits: undefined,
    });
  }
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}
