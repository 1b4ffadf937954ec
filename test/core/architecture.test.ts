import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

/**
 * The shape of the source tree, checked: no import cycles (type-only imports included: they are
 * how cycles start), and the engine does not import the adapters it defaults to (it loads them on
 * first use, src/defaults.ts), so state and dependencies flow one way.
 */
const SRC = resolve(__dirname, '../../src');

function sourceFiles(directory: string): string[] {
  return readdirSync(directory).flatMap((entry) => {
    const path = join(directory, entry);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/**
 * Static imports and re-exports (`import … from`, `export … from`, `import type`), read by
 * TypeScript's own scanner (so code inside strings, such as the demo's embedded files, is not an
 * import); `import()` is left out: loading on first use is how the engine stays adapter-free.
 */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const { importedFiles } = ts.preProcessFile(text, true, false);
  const dynamic = (position: number) => /import\s*\(\s*$/.test(text.slice(Math.max(0, position - 20), position));
  return importedFiles
    .filter((entry) => entry.fileName.startsWith('.') && !dynamic(entry.pos))
    .map((entry) => resolve(dirname(file), entry.fileName.replace(/\.js$/, '.ts')));
}

const graph = new Map(sourceFiles(SRC).map((file) => [file, importsOf(file)]));
const name = (file: string) => relative(SRC, file);

describe('source architecture', () => {
  test('the import graph has no cycles', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].map(name).join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  test('every relative import resolves to a source file (the check above sees the whole graph)', () => {
    const missing = [...graph].flatMap(([file, targets]) => targets.filter((target) => !graph.has(target)).map((target) => `${name(file)} -> ${target}`));
    expect(missing).toEqual([]);
    expect(graph.size).toBeGreaterThan(40);
  });

  test('the engine (agent, run, options, reports, contracts) does not import adapters', () => {
    const engine = [...graph.keys()].filter((file) => /^(agent|options|plan|bundle|usage|errors|events|cache-key|defaults)\.ts$|^(run|reports|contracts)\//.test(name(file)));
    expect(engine.length).toBeGreaterThan(10);
    const reach = (file: string, seen = new Set<string>()): Set<string> => {
      for (const target of graph.get(file) ?? []) if (!seen.has(target)) reach(target, seen.add(target));
      return seen;
    };
    const offending = engine.flatMap((file) => [...reach(file)].filter((target) => /^(runners|caches|generators|roma|testing)\//.test(name(target))).map((target) => `${name(file)} -> ${name(target)}`));
    expect(offending).toEqual([]);
  });

  test('the run loop reads top to bottom in well under 300 lines', () => {
    const lines = readFileSync(join(SRC, 'run/loop.ts'), 'utf8').split('\n').length;
    expect(lines).toBeLessThan(300);
  });
});
