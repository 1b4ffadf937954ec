import { isAbsolute, join } from 'node:path';
import { JAVASCRIPT_NODE_TEST } from '../../reports/presets.js';
import type { WarmPlan } from './standby.js';

/**
 * Warm node:test runs (`warmNode`): a single-use standby `node` per session (see standby.ts) that
 * has already started, loaded `node:test` and parsed the preset's reporter flags, and becomes, on
 * request, the process `node --test <reporters> <file>` would run that one file in: node:test
 * then runs the file in process, exactly as `node --test` runs it in its per-file child, and its
 * reporters write what the cold parent would. Only a run of exactly one test file is warm: cold,
 * each file gets its own process (own globals, own module graph), which one process importing
 * several files would not be; several standbys would need node:test's own parent, which Node 20
 * does not expose. Anything the standby cannot make equal to the cold run goes cold.
 */

/** The reporter flags of the built-in JavaScript preset: a run warms only when its own are exactly these. */
export const WARM_NODE_REPORTER_FLAGS: readonly string[] = JAVASCRIPT_NODE_TEST.command.slice(2);

/**
 * The standby's `process.argv[1]` until the request: node:test reads it when it loads, and with
 * none (a bare `-e`) its spec reporter leaves out where each failing test is. Also how tests find
 * standbys among processes.
 */
export const WARM_NODE_MARKER = 'ptc-node-standby';

/** Exit code by which the standby says its run was not what a cold one would be: the run is repeated cold. */
export const WARM_NODE_RETRY_EXIT_CODE = 75;

/**
 * The flags the standby starts with: the preset's, with file destinations made absolute against
 * the workspace, so the report lands where a cold run writes it whatever directory the tests
 * change to before node:test opens it (it does so with the first test).
 */
export function standbyReporterFlags(workspace: string): string[] {
  const prefix = '--test-reporter-destination=';
  return WARM_NODE_REPORTER_FLAGS.map((flag) => {
    if (!flag.startsWith(prefix)) return flag;
    const destination = flag.slice(prefix.length);
    return destination === 'stdout' || destination === 'stderr' || isAbsolute(destination) ? flag : `${prefix}${join(workspace, destination)}`;
  });
}

/**
 * Run as `sh -c 'exec "$@" 2>&1' sh <node> <standbyReporterFlags> -e WARM_NODE_BOOTSTRAP`: stderr
 * joins stdout because the cold parent prints what its per-file child writes to either on its own
 * stdout (the spec reporter's). Line by line, why:
 * - `node:test` is loaded through `import()` too: that starts the ES module loader now, not during
 *   the run, and the first `import()` of an `-e` script defines a global `module`, deleted below;
 * - everything is inside a function: `-e` code at the top level would leave names on the global
 *   object; what `-e` itself puts there, which an ES module test never sees (`require`, `module`,
 *   `exports`, `__filename`, `__dirname`, and a lazy getter per built-in module, `fs`, `util`…,
 *   told apart from real globals such as `process` or `crypto` by being the same getter as `fs`'s),
 *   is deleted before the test file loads; anything failing on the way goes cold;
 * - fd 3 is read and written synchronously (nothing else runs in the standby), answered `go` and
 *   closed before any code of the workspace runs; a request the standby cannot run as the cold
 *   child would (not an ES module file, a directory, a file in node_modules, an unreadable
 *   package.json) is answered `cold`;
 * - the cold child is `node <file>` with `NODE_TEST_CONTEXT=child-v8`, no exec flags and the
 *   parent's directory: `process.argv`, `process.execArgv`, the environment and the directory are
 *   set to those before the file is imported (node:test has already chosen its reporters);
 * - a file that does not load, registers no test, or a run that ends by `process.exit` or with a
 *   code other than 0 or 1 is one the cold parent reports differently (as a failing file): the
 *   standby exits with WARM_NODE_RETRY_EXIT_CODE and the run is repeated cold.
 */
export const WARM_NODE_BOOTSTRAP = `(async function ptcNodeStandby() {
  const fs = require('node:fs');
  const path = require('node:path');
  const { pathToFileURL } = require('node:url');
  require('node:test');
  await import('node:test');
  const control = 3;
  const retry = ${WARM_NODE_RETRY_EXIT_CODE};
  fs.writeSync(control, 'ready []\\n');
  const chunks = [];
  const buffer = Buffer.alloc(65536);
  for (;;) {
    const count = fs.readSync(control, buffer, 0, buffer.length, null);
    if (count === 0) process.exit(retry);
    chunks.push(Buffer.from(buffer.subarray(0, count)));
    if (buffer[count - 1] === 10) break;
  }
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const file = path.resolve(request.cwd, request.file);
  const moduleFile = () => {
    if (!fs.statSync(file).isFile() || file.split(path.sep).includes('node_modules')) return false;
    if (file.endsWith('.mjs')) return true;
    if (!file.endsWith('.js')) return false;
    for (let directory = path.dirname(file); ; directory = path.dirname(directory)) {
      const manifest = path.join(directory, 'package.json');
      if (fs.existsSync(manifest)) return JSON.parse(fs.readFileSync(manifest, 'utf8')).type === 'module';
      if (path.dirname(directory) === directory) return false;
    }
  };
  let runnable = false;
  try {
    runnable = moduleFile();
  } catch {}
  if (!runnable) {
    fs.writeSync(control, 'cold\\n');
    process.exit(retry);
  }
  fs.writeSync(control, 'go\\n');
  fs.closeSync(control);
  let drained = false;
  process.on('beforeExit', () => {
    if (drained) return;
    drained = true;
    if (process.listenerCount('beforeExit') === 1) process.exit(retry);
  });
  process.on('exit', (code) => {
    if (!drained || (code !== 0 && code !== 1)) process.exitCode = retry;
  });
  try {
    process.chdir(request.cwd);
    process.argv.splice(0, process.argv.length, process.execPath, file);
    process.execArgv.splice(0, process.execArgv.length);
    process.env.NODE_TEST_CONTEXT = 'child-v8';
    const lazyModule = Object.getOwnPropertyDescriptor(globalThis, 'fs').get.toString();
    for (const name of require('node:module').builtinModules) {
      const descriptor = Object.getOwnPropertyDescriptor(globalThis, name);
      if (descriptor && descriptor.get && !descriptor.enumerable && descriptor.get.toString() === lazyModule) delete globalThis[name];
    }
    for (const name of ['require', 'module', 'exports', '__filename', '__dirname']) delete globalThis[name];
  } catch {
    process.exit(retry);
  }
  import(pathToFileURL(fs.realpathSync(file)).href).catch(() => process.exit(retry));
})();
`;

/** Wraps the standby so its stderr joins its stdout (see WARM_NODE_BOOTSTRAP). */
export function nodeStandbyArgv(node: string, workspace: string): string[] {
  return ['/bin/sh', '-c', 'exec "$@" 2>&1', 'sh', node, ...standbyReporterFlags(workspace), '-e', WARM_NODE_BOOTSTRAP, WARM_NODE_MARKER];
}

/** The one test file when argv is `<node> --test <the preset's reporter flags> <file>`; else undefined. */
export function warmNodeTestFile(argv: readonly string[], node: string): string | undefined {
  if (argv[0] !== node || argv[1] !== '--test') return undefined;
  const flags = argv.slice(2, 2 + WARM_NODE_REPORTER_FLAGS.length);
  if (flags.length !== WARM_NODE_REPORTER_FLAGS.length || flags.some((flag, index) => flag !== WARM_NODE_REPORTER_FLAGS[index])) return undefined;
  const rest = argv.slice(2 + WARM_NODE_REPORTER_FLAGS.length);
  if (rest.length !== 1 || rest[0]!.startsWith('-') || rest[0]!.length === 0) return undefined;
  return rest[0];
}

/** The standby's request for argv, or undefined when the run must be cold (see warmNodeTestFile). */
export function nodeWarmPlan(argv: readonly string[], node: string, cwd: string): WarmPlan | undefined {
  const file = warmNodeTestFile(argv, node);
  if (file === undefined) return undefined;
  return { message: { file, cwd }, retryExitCode: WARM_NODE_RETRY_EXIT_CODE };
}
