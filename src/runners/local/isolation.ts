import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, relative, sep } from 'node:path';

export interface ResourceLimits {
  /** RLIMIT_CPU, per process. */
  readonly maxCpuSeconds: number;
  /** RLIMIT_DATA (private writable memory), per process. */
  readonly maxMemoryBytes: number;
  /** Processes (threads included) the command may have at once. */
  readonly maxProcesses: number;
  /** RLIMIT_FSIZE: the largest file the command may write. */
  readonly maxFileSizeBytes: number;
}

/** Runs `file args…` and resolves true when it exits 0 within `timeoutMs`; never rejects. */
export function probe(file: string, args: readonly string[], timeoutMs = 5_000): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(file, [...args], { timeout: timeoutMs, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (error) => resolve(error === null));
  });
}

// Probes exactly the features the jail uses, --cap-drop included (a bwrap too old for it must not pass).
const BWRAP_PROBE = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-pid', '--unshare-net', '--cap-drop', 'ALL', '--die-with-parent', '--', 'true'];

/** Whether bubblewrap exists and can create namespaces here (user namespaces may be disabled). */
export function probeBubblewrap(bwrapPath: string): Promise<boolean> {
  return probe(bwrapPath, BWRAP_PROBE);
}

// Host locations that may hold secrets: masked with an empty tmpfs inside the jail.
const MASKED_DIRECTORIES = ['/home', '/root', '/tmp', '/var/tmp', '/mnt', '/media', '/srv'];

export interface BubblewrapSpec {
  readonly workspace: string;
  /** Host paths visible read-only at the same place (dependency caches, toolchains, config files). */
  readonly readOnlyPaths: readonly string[];
  /** Host paths writable at the same place besides the workspace (install targets, download caches). */
  readonly writablePaths: readonly string[];
  /** False during test runs: the command gets an empty network namespace (loopback only, and down). */
  readonly network: boolean;
  /** The host's PATH, whose entries inside masked directories are re-exposed read-only. */
  readonly hostPath: string;
}

/**
 * bwrap arguments: the system read-only, homes and temp directories masked, toolchains on PATH
 * re-exposed read-only, only the workspace (and `writablePaths`) writable, private /tmp, own
 * PID/IPC/UTS namespaces, no network unless asked, no capabilities, and death with the parent.
 */
export function bubblewrapArguments(spec: BubblewrapSpec): string[] {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc'];
  const masked = MASKED_DIRECTORIES.filter((directory) => existsSync(directory));
  // The home is masked even when a masked directory already contains it (/home/alice under
  // /home): it is then the most specific mask, so a toolchain in it never re-exposes the home.
  const hostHome = safeHomedir();
  if (hostHome && hostHome !== '/' && isAbsolute(hostHome) && !masked.includes(hostHome)) masked.push(hostHome);
  // /run holds daemon sockets (docker.sock, dbus): masked always. Installs (arbitrary setup.py
  // code) only get back what name resolution needs.
  const runMasked = existsSync('/run');
  if (runMasked) masked.push('/run');
  for (const directory of masked) args.push('--tmpfs', directory);
  if (runMasked && spec.network) {
    for (const path of dnsRunPaths()) args.push('--ro-bind', path, path);
  }
  for (const path of toolchainDirectories(spec.hostPath, masked, ['/home'])) args.push('--ro-bind', path, path);
  for (const path of spec.readOnlyPaths) {
    if (existsSync(path)) args.push('--ro-bind', path, path);
  }
  for (const path of spec.writablePaths) args.push('--bind', path, path);
  args.push('--bind', spec.workspace, spec.workspace, '--chdir', spec.workspace);
  args.push('--unshare-pid', '--unshare-ipc', '--unshare-uts', '--die-with-parent', '--new-session');
  // As root, bwrap keeps every capability by default: CAP_SYS_ADMIN alone lets the command
  // `umount -l` a mask or remount / read-write. bwrap also sets no_new_privs, so the dropped
  // capabilities do not come back on execve (not even for uid 0). Without capabilities root still
  // writes the workspace, which it owns.
  args.push('--cap-drop', 'ALL');
  if (!spec.network) args.push('--unshare-net');
  args.push('--');
  return args;
}

/**
 * What name resolution needs from /run: the directory of resolv.conf's target when it lives
 * there (systemd-resolved's stub), and systemd-resolved's socket directory (nss-resolve).
 */
export function dnsRunPaths(): string[] {
  const result = new Set<string>();
  try {
    const target = realpathSync('/etc/resolv.conf');
    if (isInside(target, '/run') && target !== '/run') result.add(dirname(target));
  } catch {
    // No resolv.conf: nothing to expose.
  }
  if (existsSync('/run/systemd/resolve')) result.add('/run/systemd/resolve');
  return [...result].filter((path) => path !== '/run');
}

// Directories below a home that hold credentials: a PATH entry through them is never exposed.
const SECRET_DIRECTORIES = new Set(['.ssh', '.gnupg', '.aws', '.azure', '.kube', '.docker', '.password-store', '.netrc', '.pki']);
// Shared containers (XDG): exposing them whole would expose every application's data.
const SHARED_DIRECTORIES = new Set(['.local', '.config', '.cache']);

// Files and directories that mark a home: such a directory is never re-exposed whole.
const HOME_MARKERS = [...SECRET_DIRECTORIES, '.bashrc', '.profile', '.bash_history', '.zshrc'];

/**
 * The read-only re-exposures for PATH entries inside a masked directory. The most specific mask
 * containing the entry is used, and below it the entry's own toolchain directory: the first
 * hidden directory on the way that is not a shared XDG container (`~/.pyenv` for
 * `~/.pyenv/shims`, because the shims run interpreters in `~/.pyenv/versions`; `~/.nvm`,
 * `~/.cargo`), otherwise the PATH entry itself (`~/.local/bin`, `~/bin`). Never re-exposed: a
 * mask itself (a home), a direct child of `homeContainers` (another user's home), a directory
 * that looks like a home (holds `.ssh`, `.bashrc`…), anything through a credentials directory.
 * Known gap: tools in `~/.local/bin` that are symbolic links into `~/.local/share` (pipx, uv)
 * need that directory in `readOnlyPaths`.
 */
export function toolchainDirectories(hostPath: string, masked: readonly string[], homeContainers: readonly string[] = ['/home']): string[] {
  const result = new Set<string>();
  for (const entry of hostPath.split(delimiter)) {
    if (!isAbsolute(entry)) continue;
    const normalized = join(entry);
    const containing = masked.filter((directory) => isInside(normalized, directory));
    if (containing.length === 0) continue;
    const mask = containing.reduce((best, directory) => (directory.length > best.length ? directory : best));
    const rest = relative(mask, normalized);
    if (!rest || rest.startsWith('..')) continue;
    const segments = rest.split(sep).filter(Boolean);
    if (segments.some((segment) => SECRET_DIRECTORIES.has(segment))) continue;
    const toolchain = segments.findIndex((segment) => segment.startsWith('.') && !SHARED_DIRECTORIES.has(segment));
    const exposed = toolchain === -1 ? normalized : join(mask, ...segments.slice(0, toolchain + 1));
    if (masked.includes(exposed)) continue;
    if (homeContainers.some((container) => join(container) === dirname(exposed))) continue;
    if (!existsSync(exposed) || HOME_MARKERS.some((name) => existsSync(join(exposed, name)))) continue;
    result.add(exposed);
  }
  return [...result];
}

function isInside(path: string, directory: string): boolean {
  return path === directory || path.startsWith(directory.endsWith('/') ? directory : `${directory}/`);
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

/** `prlimit` arguments for the limits; the nproc value is computed per run (see `processLimit`). */
export function prlimitArguments(limits: ResourceLimits, nproc: number | undefined): string[] {
  const args = [
    // Soft below hard: the soft limit sends SIGXCPU (which says why), the hard one SIGKILL.
    `--cpu=${limits.maxCpuSeconds}:${limits.maxCpuSeconds + 1}`,
    `--data=${limits.maxMemoryBytes}`,
    `--fsize=${limits.maxFileSizeBytes}`,
    '--core=0',
  ];
  if (nproc !== undefined) args.push(`--nproc=${nproc}`);
  args.push('--');
  return args;
}

/**
 * RLIMIT_NPROC counts every process of the real user, not just the command's: the limit handed
 * to the command is the user's current count plus `maxProcesses`. The kernel ignores it for
 * root, which is why root runs go into a pids cgroup instead.
 */
export function processLimit(maxProcesses: number): number {
  const uid = process.getuid?.();
  let count = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (statSync(`/proc/${entry}`).uid === uid) count += 1;
      } catch {
        // The process exited while we counted.
      }
    }
  } catch {
    return maxProcesses;
  }
  return count + maxProcesses;
}

/**
 * A pids cgroup for one command: caps its process count where RLIMIT_NPROC cannot (root), and
 * lists every process it made, so a timeout kills them all even if they left the process group.
 */
export class PidsCgroup {
  private constructor(readonly path: string) {}

  static async create(parent: string, maxProcesses: number): Promise<PidsCgroup> {
    const path = join(parent, `ptc-agent-${process.pid}-${randomBytes(6).toString('hex')}`);
    await mkdir(path);
    try {
      await writeFile(join(path, 'pids.max'), String(maxProcesses));
    } catch (error) {
      await rmdir(path).catch(() => {});
      throw error;
    }
    return new PidsCgroup(path);
  }

  /** Shell prefix that moves itself into the cgroup before exec'ing the rest of argv. */
  wrapperArguments(): string[] {
    return ['/bin/sh', '-c', 'echo $$ > "$0" && exec "$@"', join(this.path, 'cgroup.procs')];
  }

  async killAll(): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const pids = await this.pids();
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Kills what is left and removes the cgroup; never throws. */
  async dispose(): Promise<void> {
    try {
      await this.killAll();
      for (let attempt = 0; attempt < 50; attempt += 1) {
        try {
          await rmdir(this.path);
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    } catch {
      // Best effort: a leftover empty cgroup directory holds no process.
    }
  }

  private async pids(): Promise<number[]> {
    try {
      const text = await readFile(join(this.path, 'cgroup.procs'), 'utf8');
      return text.split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }
}

/**
 * Where this process may create pids cgroups: the cgroup v1 `pids` hierarchy at our own cgroup,
 * or the cgroup v2 root when it delegates the pids controller. `undefined` when there is none
 * or it is not writable (not root, read-only /sys/fs/cgroup in a container).
 */
export async function findPidsCgroupParent(): Promise<string | undefined> {
  try {
    const mounts = await readFile('/proc/self/mounts', 'utf8');
    const membership = await readFile('/proc/self/cgroup', 'utf8');
    const candidates: string[] = [];
    for (const line of mounts.split('\n')) {
      const [, mountPoint, type, mountOptions] = line.split(' ');
      if (!mountPoint || !type || !mountOptions) continue;
      if (type === 'cgroup' && mountOptions.split(',').includes('pids')) {
        const own = membership.split('\n').find((entry) => entry.split(':')[1]?.split(',').includes('pids'));
        const ownPath = own?.split(':')[2] ?? '/';
        candidates.push(join(mountPoint, ownPath));
      } else if (type === 'cgroup2') {
        const controllers = await readFile(join(mountPoint, 'cgroup.subtree_control'), 'utf8').catch(() => '');
        if (controllers.split(/\s+/).includes('pids')) candidates.push(mountPoint);
      }
    }
    for (const candidate of candidates) {
      try {
        const cgroup = await PidsCgroup.create(candidate, 1);
        await cgroup.dispose();
        return candidate;
      } catch {
        // Not writable here; try the next.
      }
    }
  } catch {
    // No /proc: not Linux.
  }
  return undefined;
}
