import { constants } from 'node:fs';
import { lstat, mkdir, open, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PathSafetyError, SandboxError } from '../../errors.js';
import { throwIfAborted } from '../../internal/async.js';
import { normalizeRelativePath } from '../../internal/paths.js';

/**
 * File access to a session's workspace that cannot be redirected outside it. Paths go through
 * the same check as the agent's; on top of that no directory on the way may be a symbolic link
 * (code from an earlier run may have planted `out -> /etc`) and the final component is opened
 * with O_NOFOLLOW. Commands never run while these operations do, so the checks hold.
 */
export class Workspace {
  constructor(readonly root: string) {}

  async writeFiles(files: readonly { path: string; content: string }[], signal: AbortSignal): Promise<void> {
    // Check every path first, so a bad path leaves the workspace untouched.
    const checked = files.map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
    for (const file of checked) {
      throwIfAborted(signal);
      await this.ensureParents(file.path, true);
      const handle = await this.openNoFollow(file.path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
      try {
        await handle.writeFile(file.content, 'utf8');
      } finally {
        await handle.close();
      }
    }
  }

  async removeFiles(paths: readonly string[], signal: AbortSignal): Promise<void> {
    const checked = paths.map((path) => normalizeRelativePath(path));
    for (const path of checked) {
      throwIfAborted(signal);
      if (!(await this.ensureParents(path, false))) continue;
      const target = join(this.root, path);
      try {
        const stats = await lstat(target);
        // rm does not follow symbolic links, so a planted link is removed, not its target.
        if (stats.isDirectory()) await rm(target, { recursive: true, force: true });
        else await unlink(target);
      } catch (error) {
        if (!isMissing(error)) throw new SandboxError(`Could not remove ${path}`, { cause: error });
      }
    }
  }

  /** UTF-8 content, at most `maxBytes` of it; `undefined` when the file does not exist. */
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
      const stats = await handle.stat();
      if (!stats.isFile()) throw new PathSafetyError(path, 'is not a regular file');
      const length = Math.min(stats.size, maxBytes);
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
      return await open(join(this.root, path), flags | constants.O_NOFOLLOW, 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new PathSafetyError(path, 'is a symbolic link');
      throw error;
    }
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
