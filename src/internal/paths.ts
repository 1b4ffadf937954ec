import { PathSafetyError } from '../errors.js';

/** Longest accepted relative path, in characters. */
export const MAX_PATH_CHARS = 1024;
const MAX_SEGMENT_CHARS = 255;
// Control characters (NUL included) and backslashes have no place in a portable relative path;
// a backslash is a separator on Windows and a classic way to smuggle `..\`.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHARACTERS = /[\u0000-\u001f\u007f\\]/;

/**
 * Turns a path from an untrusted source into a normalised relative POSIX path that cannot leave
 * its root: `./a//b.py` → `a/b.py`. Rejects absolute, drive and UNC paths, `..` anywhere, `~`,
 * NUL and other control characters, backslashes, empty paths and over-long ones.
 * @throws PathSafetyError
 */
export function normalizeRelativePath(path: string): string {
  if (typeof path !== 'string' || path.length === 0) throw new PathSafetyError(String(path), 'empty path');
  if (path.length > MAX_PATH_CHARS) throw new PathSafetyError(path, `longer than ${MAX_PATH_CHARS} characters`);
  if (FORBIDDEN_CHARACTERS.test(path)) throw new PathSafetyError(path, 'contains a control character or a backslash');
  if (path.startsWith('/')) throw new PathSafetyError(path, 'absolute paths are not allowed');
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') throw new PathSafetyError(path, '".." is not allowed');
    if (segment.length > MAX_SEGMENT_CHARS) throw new PathSafetyError(path, `a segment is longer than ${MAX_SEGMENT_CHARS} characters`);
    segments.push(segment);
  }
  if (segments.length === 0) throw new PathSafetyError(path, 'names no file');
  // Checked on the first segment after normalising, so `./C:/x` and `./~` are caught too.
  const first = segments[0]!;
  if (/^[A-Za-z]:/.test(first)) throw new PathSafetyError(path, 'drive paths are not allowed');
  if (first.startsWith('~')) throw new PathSafetyError(path, 'home-relative paths are not allowed');
  return segments.join('/');
}

/** True when `path` normalises safely; never throws. */
export function isSafeRelativePath(path: string): boolean {
  try {
    normalizeRelativePath(path);
    return true;
  } catch {
    return false;
  }
}
