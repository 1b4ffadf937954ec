import type { WarmPlan } from './standby.js';

/**
 * Warm pytest runs (`warmPython`): a single-use standby interpreter per session, started in the
 * jail and under the limits a test command gets, that has already paid `import pytest` and waits
 * for one request on file descriptor 3. The request (argv, working directory) arrives when the
 * run does; the standby then becomes exactly what `python3 -B -m pytest …` would be at that
 * point, runs pytest once and exits. Whatever makes a run differ from the cold one it would be
 * (other interpreter flags, another environment, a workspace module with the name of something
 * already imported, a standby that is not answering) makes the run cold instead.
 */

/** The interpreter flags a standby starts with: a run warms only when its own are exactly these. */
export const WARM_PYTHON_FLAGS: readonly string[] = ['-B'];

/**
 * Run as `python -B -c WARM_PYTHON_BOOTSTRAP`. Line by line, why:
 * - `sys.path[0]` is `''` (the start directory) under `-c`: removed before anything is imported,
 *   so nothing of a workspace (the previous iteration's files included) is importable while
 *   pytest loads; the request's directory is put back in its place, as `-m` does, after `chdir`.
 * - the names of every module already imported go back with `ready`: the runner refuses to warm a
 *   run whose files could shadow one of them (a cold run would import the workspace's file).
 * - `go` acknowledges the request, so a standby that is alive but stuck (stopped, swapped out)
 *   is told apart from a slow test and the run goes cold, never times out for nothing.
 * - fd 3 is closed before any code of the workspace runs: the tests cannot reach the channel.
 * - `__main__` is emptied of the bootstrap's own names and `runpy._run_module_as_main` is what
 *   `-m` itself calls: the tests see the `__main__`, `sys.argv` and `sys.orig_argv` of a cold run.
 */
export const WARM_PYTHON_BOOTSTRAP = `import sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
def _ptc_standby():
    import os, json, runpy
    import pytest
    control = 3
    names = sorted({name.partition(".")[0] for name in sys.modules})
    os.write(control, ("ready " + json.dumps(names) + "\\n").encode())
    data = b""
    while not data.endswith(b"\\n"):
        chunk = os.read(control, 1 << 16)
        if not chunk:
            os._exit(75)
        data += chunk
    request = json.loads(data)
    os.write(control, b"go\\n")
    os.close(control)
    os.chdir(request["cwd"])
    if not sys.flags.safe_path:
        sys.path.insert(0, os.getcwd())
    sys.argv = ["-m", *request["args"]]
    sys.orig_argv = list(request["argv"])
    main = sys.modules["__main__"].__dict__
    for key in [key for key in main if not key.startswith("__")]:
        del main[key]
    runpy._run_module_as_main("pytest")
_ptc_standby()
`;

/** pytest's own arguments when argv is `<python> -B -m pytest …` with the standby's interpreter; else undefined. */
export function warmPytestArguments(argv: readonly string[], python: string): string[] | undefined {
  if (argv[0] !== python) return undefined;
  const flags = argv.slice(1, 1 + WARM_PYTHON_FLAGS.length);
  if (flags.length !== WARM_PYTHON_FLAGS.length || flags.some((flag, index) => flag !== WARM_PYTHON_FLAGS[index])) return undefined;
  const rest = argv.slice(1 + WARM_PYTHON_FLAGS.length);
  if (rest[0] !== '-m' || rest[1] !== 'pytest') return undefined;
  return rest.slice(2);
}

/**
 * Names the workspace files could be imported under, for the shadowing check: every directory
 * and every file stem (before the first dot) on every path, not only the top level, because
 * pytest's default import mode puts test directories on `sys.path` too. Over-broad on purpose: a
 * false match only costs a cold run.
 */
export function importableNames(paths: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const path of paths) {
    for (const segment of path.split('/')) {
      const stem = segment.split('.')[0];
      if (stem) names.add(stem);
    }
  }
  return names;
}

/**
 * The standby's request for argv, or undefined when the run must be cold (not
 * `<python> -B -m pytest …` with the standby's interpreter). A synced path that could shadow a
 * module the standby imported makes the run cold too.
 */
export function pythonWarmPlan(argv: readonly string[], python: string, cwd: string, syncedPaths: readonly string[]): WarmPlan | undefined {
  const args = warmPytestArguments(argv, python);
  if (!args) return undefined;
  const files = importableNames(syncedPaths);
  return {
    message: { argv, args, cwd },
    conflicts: (imported) => [...files].some((name) => imported.has(name)),
  };
}
