import { constants } from 'node:fs';
import { chmod, type FileHandle, lstat, mkdir, open, readdir, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PathSafetyError, SandboxError } from '../../errors.js';
import { throwIfAborted } from '../../internal/async.js';
import { normalizeRelativePath } from '../../internal/paths.js';

/**
 * File access to a session's workspace that cannot be redirected outside it. Paths go through
 * the same check as the agent's; on top of that no directory on the way may be a symbolic link
 * (code from an earlier run may have planted `out -> /etc`) and the final component is opened
 * with O_NOFOLLOW. Commands never run while these operations do, so the checks hold.
 *
 * Only regular files are read or written. Every open also carries O_NONBLOCK and the handle is
 * fstat'ed before any byte moves: a FIFO planted by a command (`os.mkfifo('.ptc/junit.xml')`)
 * would otherwise block open() inside libuv's threadpool forever, and four of them hang every fs
 * call of the host process. For writes, a FIFO, socket or device at the path is removed
 * (unlinked: it is the sandbox's own debris, and the file the agent writes replaces it), and so is
 * a regular file with more than one hard link (the new content never goes through a link into
 * another file); a directory at the path is refused.
 */
export class Workspace {
  private generation = 0;

  /**
   * @param root the workspace directory; it keeps its path for the session's lifetime.
   * @param scaffold recreates what the runner itself keeps in a fresh workspace (scratch
   *   directory, the dependency link); run after every reset.
   */
  constructor(
    readonly root: string,
    private readonly scaffold: (root: string) => Promise<void> = async () => {},
  ) {}

  /**
   * Makes the workspace hold exactly `files`. The old tree is renamed aside in one step and a
   * fresh one built in its place, so nothing a command left behind survives — whatever its
   * permissions (a test can chmod 000 a directory it made) — and the new files never meet
   * a symbolic link or FIFO planted by an earlier run. Every path is checked before anything
   * changes.
   */
  async sync(files: readonly { path: string; content: string }[], signal: AbortSignal): Promise<void> {
    const checked = files.map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
    throwIfAborted(signal);
    this.generation += 1;
    const stale = `${this.root}.stale-${this.generation}`;
    await rename(this.root, stale);
    try {
      await mkdir(this.root, { mode: 0o755 });
      await this.scaffold(this.root);
    } finally {
      // Removed before anything else can fail, so a failed sync leaves no stale tree behind.
      await removeTree(stale);
    }
    await this.writeFiles(checked, signal);
  }

  async writeFiles(files: readonly { path: string; content: string }[], signal: AbortSignal): Promise<void> {
    // Check every path first, so a bad path leaves the workspace untouched.
    const checked = files.map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
    for (const file of checked) {
      throwIfAborted(signal);
      await this.ensureParents(file.path, true);
      await this.clearForWrite(file.path);
      const handle = await this.openNoFollow(file.path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
      try {
        await assertRegularFile(handle, file.path);
        await handle.writeFile(file.content, 'utf8');
      } finally {
        await handle.close();
      }
    }
  }

  /** Unlinks what must not be written through: special files, and hard links to other files. */
  private async clearForWrite(path: string): Promise<void> {
    const target = join(this.root, path);
    let stats;
    try {
      stats = await lstat(target);
    } catch (error) {
      if (isMissing(error)) return;
      throw new SandboxError(`Could not inspect ${path}`, { cause: error });
    }
    if (stats.isSymbolicLink()) throw new PathSafetyError(path, 'is a symbolic link');
    if (stats.isDirectory()) throw new SandboxError(`Cannot write ${path}: it is a directory`);
    if (stats.isFile() && stats.nlink <= 1) return;
    try {
      await unlink(target);
    } catch (error) {
      if (!isMissing(error)) throw new SandboxError(`Could not replace ${path}`, { cause: error });
    }
  }

  /** UTF-8 content; `undefined` when the file does not exist; a file over `maxBytes` is refused. */
  async readFile(path: string, maxBytes: number, signal: AbortSignal): Promise<string | undefined> {
    const checked = normalizeRelativePath(path);
    throwIfAborted(signal);
    if (!(await this.ensureParents(checked, false))) return undefined;
    let handle;
    try {
      handle = await this.openNoFollow(checked, constants.O_RDONLY);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    try {
      const stats = await assertRegularFile(handle, path);
      // Refused, not cut: a cut report would parse as a different (smaller) result.
      if (stats.size > maxBytes) throw new SandboxError(`${checked} is larger than ${maxBytes} bytes`, { code: 'OUTPUT_REJECTED' });
      const length = stats.size;
      const buffer = Buffer.alloc(length);
      let offset = 0;
      while (offset < length) {
        const { bytesRead } = await handle.read(buffer, offset, length - offset, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
      }
      return buffer.subarray(0, offset).toString('utf8');
    } finally {
      await handle.close();
    }
  }

  /**
   * Walks the directories of `path` refusing symbolic links; creates missing ones when asked.
   * Returns false when a directory is missing and was not created.
   */
  private async ensureParents(path: string, create: boolean): Promise<boolean> {
    const segments = path.split('/');
    let current = this.root;
    for (const segment of segments.slice(0, -1)) {
      current = join(current, segment);
      let stats;
      try {
        stats = await lstat(current);
      } catch (error) {
        if (!isMissing(error)) throw new SandboxError(`Could not inspect ${path}`, { cause: error });
        if (!create) return false;
        await mkdir(current);
        continue;
      }
      if (stats.isSymbolicLink()) throw new PathSafetyError(path, 'passes through a symbolic link');
      if (!stats.isDirectory()) {
        if (!create) return false;
        throw new SandboxError(`Cannot write ${path}: ${current.slice(this.root.length + 1)} is a file, not a directory`);
      }
    }
    return true;
  }

  private async openNoFollow(path: string, flags: number) {
    try {
      // O_NONBLOCK: opening a FIFO returns at once instead of waiting for the other end.
      return await open(join(this.root, path), flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o644);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new PathSafetyError(path, 'is a symbolic link');
      // A FIFO without a reader, opened for writing without blocking.
      if (code === 'ENXIO') throw new PathSafetyError(path, 'is not a regular file');
      throw error;
    }
  }
}

/** Removes a tree a command may have locked down (chmod 000 directories) by reopening it first. */
export async function removeTree(path: string): Promise<void> {
  try {
    await rm(path, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    await unlockTree(path);
    await rm(path, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function unlockTree(path: string): Promise<void> {
  const stats = await lstat(path).catch(() => undefined);
  if (!stats?.isDirectory()) return;
  await chmod(path, 0o700).catch(() => {});
  const entries = await readdir(path).catch(() => [] as string[]);
  for (const entry of entries) await unlockTree(join(path, entry));
}

async function assertRegularFile(handle: FileHandle, path: string) {
  const stats = await handle.stat();
  if (!stats.isFile()) throw new PathSafetyError(path, 'is not a regular file');
  return stats;
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
