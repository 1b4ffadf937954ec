import { describe, expect, test } from 'vitest';
import { PathSafetyError, isSafeRelativePath, normalizeRelativePath } from '../../src/index.js';

describe('normalizeRelativePath', () => {
  test.each([
    ['a.py', 'a.py'],
    ['./a.py', 'a.py'],
    ['src//pkg/./mod.py', 'src/pkg/mod.py'],
    ['tests/', 'tests'],
    ['dir.with.dots/..hidden', 'dir.with.dots/..hidden'],
    ['ünïcode/файл.py', 'ünïcode/файл.py'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeRelativePath(input)).toBe(expected);
  });

  test.each(['', '.', './', '..', '../a', 'a/../b', 'a/..', '/abs', '//server/share', 'C:/x', 'c:x', '\\\\server\\x', 'a\\b', '~', '~/x', 'a\u0000b', 'a\nb', 'x'.repeat(1025), `${'y'.repeat(256)}/z`])(
    '%j is refused',
    (input) => {
      expect(() => normalizeRelativePath(input)).toThrow(PathSafetyError);
      expect(isSafeRelativePath(input)).toBe(false);
    },
  );
});

test.each(['./~', './C:/x', './/~user/x', './c:'])('%j is refused after normalising too', (input) => {
  expect(() => normalizeRelativePath(input)).toThrow(PathSafetyError);
});
