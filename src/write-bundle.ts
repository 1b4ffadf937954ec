import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type ArtifactBundle, ArtifactBundleSchema } from './bundle.js';
import { PathSafetyError, PTCError } from './errors.js';
import { normalizeRelativePath } from './internal/paths.js';

export interface WriteBundleOptions {
  /**
   * Replace regular files that already exist. Without it an existing file is an error. A file
   * with several hard links is replaced by a new file (unlink, then create), never truncated
   * through the link, so the other names keep their content. Something that is not a regular
   * file (FIFO, socket, device, directory) is refused with PATH_UNSAFE even with it.
   * @default false
   */
  overwrite?: boolean;
}

export interface WriteBundleResult {
  /** Absolute paths written, in bundle order. */
  written: string[];
}

/**
 * Writes a bundle's files under `dir` (created when missing). Every path is checked as model
 * output is: nothing may land outside `dir`, neither through `..` nor through a symlink that
 * already exists inside it (each directory on the way is checked, and the file is opened with
 * O_NOFOLLOW). All paths are checked before the first byte is written. Only regular files are
 * written: the open carries O_NONBLOCK and the handle is fstat'ed, so a FIFO at a target is
 * refused instead of blocking forever.
 * @throws PathSafetyError, or PTCError('BUNDLE_INVALID') for a bundle that fails its schema.
 */
export async function writeBundle(bundle: ArtifactBundle, dir: string, options: WriteBundleOptions = {}): Promise<WriteBundleResult> {
  const parsed = ArtifactBundleSchema.safeParse(bundle);
  if (!parsed.success) throw new PTCError('BUNDLE_INVALID', `not a valid bundle: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`);
  const files = parsed.data.files.map((file) => ({ path: normalizeRelativePath(file.path), content: file.content }));
  const seen = new Set<string>();
  for (const file of files) {
    if (seen.has(file.path)) throw new PathSafetyError(file.path, 'appears twice in the bundle');
    seen.add(file.path);
  }
  await mkdir(dir, { recursive: true });
  const root = await realpath(dir);
  // A first pass that only looks, so a refused target leaves the directory untouched; the write
  // loop checks again (the directory may change in between).
  for (const file of files) await precheck(root, file.path, options.overwrite === true);
  const written: string[] = [];
  for (const file of files) {
    const segments = file.path.split('/');
    let current = root;
    for (const segment of segments.slice(0, -1)) {
      current = join(current, segment);
      const stats = await lstatOrUndefined(current);
      if (!stats) {
        await mkdir(current);
      } else if (stats.isSymbolicLink()) {
        throw new PathSafetyError(file.path, `${segment} is a symbolic link inside the target directory`);
      } else if (!stats.isDirectory()) {
        throw new PathSafetyError(file.path, `${segment} exists and is not a directory`);
      }
    }
    const target = join(current, segments[segments.length - 1]!);
    const existing = await lstatOrUndefined(target);
    if (existing && !existing.isSymbolicLink()) {
      if (!existing.isFile()) throw new PathSafetyError(file.path, 'the target exists and is not a regular file');
      // Truncating a hard-linked file would change every other name of it (possibly outside dir).
      if (options.overwrite && existing.nlink > 1) await unlink(target);
    }
    const flags =
      constants.O_WRONLY |
      constants.O_CREAT |
      constants.O_NOFOLLOW |
      constants.O_NONBLOCK |
      (options.overwrite ? constants.O_TRUNC : constants.O_EXCL);
    let handle;
    try {
      handle = await open(target, flags, 0o644);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELOOP') throw new PathSafetyError(file.path, 'the target is a symbolic link', { cause: error });
      if (code === 'EEXIST') throw new PTCError('PATH_UNSAFE', `${file.path} already exists; pass { overwrite: true } to replace it`, { cause: error });
      if (code === 'ENXIO' || code === 'EISDIR') throw new PathSafetyError(file.path, 'the target exists and is not a regular file', { cause: error });
      throw error;
    }
    const opened = await handle.stat().catch(async (error: unknown) => {
      await handle.close();
      throw error;
    });
    if (!opened.isFile()) {
      await handle.close();
      throw new PathSafetyError(file.path, 'the target exists and is not a regular file');
    }
    try {
      await handle.writeFile(file.content, 'utf8');
    } finally {
      await handle.close();
    }
    written.push(target);
  }
  return { written };
}

async function precheck(root: string, path: string, overwrite: boolean): Promise<void> {
  const segments = path.split('/');
  let current = root;
  for (const segment of segments.slice(0, -1)) {
    current = join(current, segment);
    const stats = await lstatOrUndefined(current);
    if (!stats) return;
    if (stats.isSymbolicLink()) throw new PathSafetyError(path, `${segment} is a symbolic link inside the target directory`);
    if (!stats.isDirectory()) throw new PathSafetyError(path, `${segment} exists and is not a directory`);
  }
  const existing = await lstatOrUndefined(join(current, segments[segments.length - 1]!));
  if (!existing) return;
  if (existing.isSymbolicLink()) throw new PathSafetyError(path, 'the target is a symbolic link');
  if (!existing.isFile()) throw new PathSafetyError(path, 'the target exists and is not a regular file');
  if (!overwrite) throw new PTCError('PATH_UNSAFE', `${path} already exists; pass { overwrite: true } to replace it`);
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
