import { execFileSync } from 'node:child_process';
import { link, mkdtemp, mkdir, readFile, rm, stat, symlink, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { type ArtifactBundle, PTCAgent, writeBundle } from '../../src/index.js';
import { FakeSandboxRunner, ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FIXED, PLAN } from '../helpers.js';

let root: string;
let bundle: ArtifactBundle;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'ptc-write-'));
  bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner: new FakeSandboxRunner() }).execute(PLAN);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const withPath = (path: string): ArtifactBundle => ({ ...bundle, files: [{ ...bundle.files[0]!, path }] });

describe('writeBundle', () => {
  test('writes every file, creating directories', async () => {
    const out = join(root, 'out');
    const { written } = await writeBundle(bundle, out);
    expect(written).toEqual([join(out, 'calc.py'), join(out, 'tests/test_calc.py')]);
    expect(await readFile(join(out, 'calc.py'), 'utf8')).toBe(FIXED[0]!.content);
  });

  test('refuses to overwrite unless asked', async () => {
    await writeBundle(bundle, root);
    await expect(writeBundle(bundle, root)).rejects.toThrow(/already exists/);
    await writeFile(join(root, 'calc.py'), 'old');
    await writeBundle(bundle, root, { overwrite: true });
    expect(await readFile(join(root, 'calc.py'), 'utf8')).toBe(FIXED[0]!.content);
  });

  test.each(['../escape.py', '/tmp/abs.py', 'a/../../x.py', 'a\\..\\x.py'])('refuses %s before writing anything', async (path) => {
    const out = join(root, 'out');
    await expect(writeBundle(withPath(path), out)).rejects.toMatchObject({ code: expect.stringMatching(/PATH_UNSAFE|BUNDLE_INVALID/) });
    await expect(readdir(root)).resolves.not.toContain('escape.py');
  });

  test('refuses a directory symlink inside the target that points outside it', async () => {
    const outside = join(root, 'outside');
    const out = join(root, 'out');
    await mkdir(outside);
    await mkdir(out);
    await symlink(outside, join(out, 'link'));
    await expect(writeBundle(withPath('link/evil.py'), out)).rejects.toMatchObject({ code: 'PATH_UNSAFE' });
    expect(await readdir(outside)).toEqual([]);
  });

  test('refuses a file symlink inside the target, even with overwrite', async () => {
    const outside = join(root, 'secret.txt');
    const out = join(root, 'out');
    await writeFile(outside, 'precious');
    await mkdir(out);
    await symlink(outside, join(out, 'calc.py'));
    await expect(writeBundle(bundle, out, { overwrite: true })).rejects.toMatchObject({ code: 'PATH_UNSAFE' });
    expect(await readFile(outside, 'utf8')).toBe('precious');
  });

  test('a target directory that is itself a symlink is fine (it is the root the caller chose)', async () => {
    const real = join(root, 'real');
    await mkdir(real);
    await symlink(real, join(root, 'alias'));
    await writeBundle(bundle, join(root, 'alias'));
    expect(await readFile(join(real, 'calc.py'), 'utf8')).toBe(FIXED[0]!.content);
  });

  test('an invalid bundle is refused', async () => {
    await expect(writeBundle({ nope: true } as unknown as ArtifactBundle, root)).rejects.toMatchObject({ code: 'BUNDLE_INVALID' });
  });

  /** Settles within `ms` or reports that it did not: a blocked open() must fail the test, not hang it. */
  const settles = (promise: Promise<unknown>, ms = 3_000) =>
    Promise.race([
      promise.then(
        () => 'resolved',
        (error: { code?: string }) => `rejected ${error.code ?? ''}`,
      ),
      new Promise((resolve) => setTimeout(() => resolve('STILL BLOCKED'), ms)),
    ]);

  test('a FIFO at a target is refused with overwrite instead of blocking the process', async () => {
    execFileSync('mkfifo', [join(root, 'calc.py')]);
    expect(await settles(writeBundle(bundle, root, { overwrite: true }))).toBe('rejected PATH_UNSAFE');
    // Nothing was written before the refusal (tests/test_calc.py comes later in the bundle).
    await expect(readdir(root)).resolves.toEqual(['calc.py']);
    expect((await stat(join(root, 'calc.py'))).isFIFO()).toBe(true);
  });

  test('with overwrite, a hard-linked target is replaced, not written through the link', async () => {
    const other = join(root, 'other-name.txt');
    const out = join(root, 'out');
    await mkdir(out);
    await writeFile(other, 'precious');
    await link(other, join(out, 'calc.py'));
    await writeBundle(bundle, out, { overwrite: true });
    expect(await readFile(other, 'utf8')).toBe('precious');
    expect(await readFile(join(out, 'calc.py'), 'utf8')).toBe(FIXED[0]!.content);
    expect((await stat(join(out, 'calc.py'))).nlink).toBe(1);
  });
});
