import { accessSync, constants, statSync } from 'node:fs';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import type { CommandResult } from '../../contracts/sandbox-runner.js';
import { SandboxError } from '../../errors.js';
import { tail } from '../../internal/text.js';

/** Used when the host process has no PATH at all. */
export const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Where `name` is on `searchPath`, as an absolute path: a name with a slash is taken as given (if
 * it is an executable file), a bare name is looked up in the absolute entries of `searchPath`
 * in order, as execvp would. `undefined` when there is none.
 */
export function findExecutable(name: string, searchPath: string): string | undefined {
  if (name.includes('/')) return isExecutableFile(name) && isAbsolute(name) ? name : undefined;
  for (const directory of searchPath.split(delimiter)) {
    // A relative entry would be resolved against whatever directory the command runs in.
    if (!isAbsolute(directory)) continue;
    const candidate = join(directory, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The toolchain failure every preflight check ends in: what is missing and how to get it. */
export function unavailable(message: string): SandboxError {
  return new SandboxError(`The local runner cannot run this language's tests: ${message}`, { code: 'TEST_PRESET_UNAVAILABLE' });
}

/**
 * Run as `python3 -c PYTHON_PROBE` where the tests run: the real interpreter behind any shim
 * (pyenv, asdf) and whether pytest imports there. Each fact on its own marked line, so what a
 * noisy sitecustomize prints around them does not confuse the parse.
 */
export const PYTHON_PROBE = [
  'import sys',
  'print("ptc-executable=" + (sys.executable or ""))',
  'print("ptc-version=%d.%d" % sys.version_info[:2])',
  'try:',
  '    import pytest',
  '    print("ptc-pytest=" + pytest.__version__)',
  'except BaseException as error:',
  '    print("ptc-pytest-error=%s: %s" % (type(error).__name__, str(error).splitlines()[0] if str(error) else ""))',
].join('\n');

export interface PythonProbe {
  /** The real interpreter, or `undefined` when it could not be told (then python3 runs by name). */
  readonly executable: string | undefined;
  readonly version: string | undefined;
  /** pytest's version, or `undefined` when it does not import. */
  readonly pytest: string | undefined;
  readonly pytestError: string | undefined;
}

/** Reads the probe's output; throws `TEST_PRESET_UNAVAILABLE` when python3 did not run at all. */
export function parsePythonProbe(result: CommandResult, searchPath: string): PythonProbe {
  const facts = markedLines(result.stdout);
  if (result.timedOut || facts.get('version') === undefined) {
    throw unavailable(
      `python3 did not start on the sandbox PATH (${searchPath})${describeFailure(result)}. Install Python 3 (e.g. \`apt-get install python3\`), or point the runner's \`path\` option at a directory that holds python3.`,
    );
  }
  const executable = facts.get('executable');
  return {
    // Only an absolute path that exists is used instead of the name; anything else keeps the name.
    executable: executable && isAbsolute(executable) && isExecutableFile(executable) ? executable : undefined,
    version: facts.get('version'),
    pytest: facts.get('pytest'),
    pytestError: facts.get('pytest-error'),
  };
}

/** Run as `node -e NODE_PROBE`: node resolves its own real binary (behind nvm, volta, asdf shims). */
export const NODE_PROBE = 'process.stdout.write("ptc-executable=" + process.execPath + "\\nptc-version=" + process.versions.node + "\\n")';

export function parseNodeProbe(result: CommandResult, searchPath: string): { executable: string | undefined } {
  const facts = markedLines(result.stdout);
  if (result.timedOut || facts.get('version') === undefined) {
    throw unavailable(
      `node did not start on the sandbox PATH (${searchPath})${describeFailure(result)}. Install Node.js 20 or later, or point the runner's \`path\` option at a directory that holds node.`,
    );
  }
  const executable = facts.get('executable');
  return { executable: executable && isAbsolute(executable) && isExecutableFile(executable) ? executable : undefined };
}

function markedLines(stdout: string): Map<string, string> {
  const facts = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const match = /^ptc-([a-z-]+)=(.*)$/.exec(line.trimEnd());
    if (match && !facts.has(match[1]!)) facts.set(match[1]!, match[2]!);
  }
  return facts;
}

function describeFailure(result: CommandResult): string {
  if (result.timedOut) return ': it did not answer in time';
  const output = tail(`${result.stderr}\n${result.stdout}`.trim(), 300);
  return `: exit code ${result.exitCode ?? 'none'}${output ? `, ${JSON.stringify(output)}` : ''}`;
}

/**
 * Run as `python3 -I -S -c PYTEST_PLUGINS_PROBE <site-packages>`: the `pytest11` entry points of
 * the distributions installed in that one directory, one JSON list. `-I -S`: nothing but the
 * standard library is on sys.path, so no installed package runs while it is listed, and
 * `importlib.metadata` is asked about that directory only (never the host's site-packages).
 */
export const PYTEST_PLUGINS_PROBE = [
  'import sys, json, importlib.metadata as metadata',
  'found = []',
  'for distribution in metadata.distributions(path=[sys.argv[1]]):',
  '    for entry in distribution.entry_points:',
  '        if entry.group == "pytest11":',
  '            found.append(entry.value)',
  'print("ptc-plugins=" + json.dumps(found))',
].join('\n');

// A dotted module name: what `-p` takes. Anything else (`no:…`, an option, a path) is not a plugin.
const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/**
 * The plugin modules to pass as `-p`, sorted and unique. An entry point is `module` or
 * `module:attribute`; pluggy registers the module's hooks either way for the plugins that exist,
 * so the module is what is loaded. Values that are not module names are dropped and returned
 * apart: the set comes from a registry, and must not smuggle options into pytest's argv.
 */
export function parsePytestPlugins(stdout: string): { modules: string[]; rejected: string[] } {
  const raw = markedLines(stdout).get('plugins');
  if (raw === undefined) throw new Error('the plugin listing printed nothing');
  const values: unknown = JSON.parse(raw);
  if (!Array.isArray(values)) throw new Error('the plugin listing is not a list');
  const modules = new Set<string>();
  const rejected: string[] = [];
  for (const value of values) {
    const module = typeof value === 'string' ? value.split(':')[0]!.trim() : '';
    if (MODULE_NAME.test(module)) modules.add(module);
    else rejected.push(String(value).slice(0, 100));
  }
  return { modules: [...modules].sort(), rejected };
}

const PYTHON_NAME = /^python(\d+(\.\d+)?)?$/;
// Python options that take the next argument as their value.
const PYTHON_OPTIONS_WITH_VALUE = new Set(['-W', '-X', '-Q']);

/**
 * Where pytest's own arguments start in argv, or -1 when argv does not run pytest:
 * `python3 [options] -m pytest …` or `pytest …`. Everything after `-c`, a script or another
 * module belongs to that program and is never looked into.
 */
export function pytestArgumentsIndex(argv: readonly string[]): number {
  const program = basename(argv[0] ?? '');
  if (program === 'pytest' || program === 'py.test') return 1;
  if (!PYTHON_NAME.test(program)) return -1;
  for (let index = 1; index < argv.length; index += 1) {
    const part = argv[index]!;
    if (part === '-m') return argv[index + 1] === 'pytest' ? index + 2 : -1;
    if (part === '-mpytest') return index + 1;
    if (PYTHON_OPTIONS_WITH_VALUE.has(part)) {
      index += 1;
      continue;
    }
    // `-Wignore`, `-Xdev`: the value is attached.
    if (PYTHON_OPTIONS_WITH_VALUE.has(part.slice(0, 2))) continue;
    // A script, stdin, `--`, or a cluster of flags that ends in -c or -m (`-Bc`, `-Im`): not pytest
    // as far as we can tell, so nothing is injected.
    if (!part.startsWith('-') || part === '-' || part.startsWith('--') || /[cm]/.test(part.slice(1))) return -1;
  }
  return -1;
}

/** argv with `-p <module>` for each plugin right after pytest's name (before anything a preset appends). */
export function withPytestPlugins(argv: readonly string[], plugins: readonly string[]): string[] {
  const index = pytestArgumentsIndex(argv);
  if (index === -1 || plugins.length === 0) return [...argv];
  return [...argv.slice(0, index), ...plugins.flatMap((module) => ['-p', module]), ...argv.slice(index)];
}
