// The front door never lies: every ```ts block of README.md and CONTRIBUTING.md is type-checked
// against the sources (under the project's strict compiler options) and, unless it is listed in
// TYPECHECK_ONLY below with the reason, executed offline. A block that does not compile fails.
//
// A block is written to output/readme-blocks/ as a module. Names it uses without declaring them
// (`agent`, `generator`, `plan`…: what the reader's own program would have) are imported from
// test/readme-context.ts, which defines them offline; a name that module does not export fails.
// Imports of `ptc-agent` and its subpaths resolve to src/ (no build needed), through `paths` for
// the type-check and by rewriting the specifier for execution.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { FakeAnthropicServer, writeFilesStream } from './fakes/anthropic-server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BLOCK_DIR = join(ROOT, 'output', 'readme-blocks');
const CONTEXT = join(ROOT, 'test', 'readme-context.ts');
const DOCS = ['README.md', 'CONTRIBUTING.md'].filter((doc) => existsSync(join(ROOT, doc)));

/** Every import path of the package → its source. Checked against package.json and typedoc.json below. */
const SOURCES: Record<string, string> = {
  'ptc-agent': 'src/index.ts',
  'ptc-agent/testing': 'src/testing/index.ts',
  'ptc-agent/anthropic': 'src/generators/anthropic.ts',
  'ptc-agent/ai-sdk': 'src/generators/ai-sdk.ts',
  'ptc-agent/daytona': 'src/runners/daytona.ts',
  'ptc-agent/redis': 'src/caches/redis.ts',
  'ptc-agent/roma': 'src/roma/index.ts',
  'ptc-agent/eval': 'src/eval/index.ts',
};

/** Blocks that are type-checked but not run, and why. A key that names no block fails the test. */
const TYPECHECK_ONLY: Record<string, string> = {
  'README.md › The agent #2': 'installs a SIGTERM handler that exits the process',
  'README.md › Daytona sandboxes: `ptc-agent/daytona` #1': 'needs a Daytona account (DAYTONA_API_KEY) and @daytonaio/sdk',
  'README.md › Caching: `LruCache`, `KeyvCache` and Redis #1': 'needs a Redis server at REDIS_URL, and installs a SIGTERM handler',
  'README.md › Durable runs #1': 'needs a Redis server at REDIS_URL, and installs a SIGTERM handler',
  'README.md › How good is your configuration? `ptc-agent/eval` #1': 'needs the HumanEval file, which the project does not ship',
  'README.md › Serving it over HTTP (SSE) #1': 'listens on port 3000',
  'README.md › Testing your own code #2': 'registers vitest tests when it is loaded: it is a test file of its own',
};

/**
 * Blocks run in a set-up of their own instead of plainly. The quick start calls Claude: it runs
 * against the loopback fake of the Messages API (the real SDK, the real local runner and pytest),
 * once going green and once failing, to show that it prints the reason.
 */
const CUSTOM_RUN: Record<string, (run: (tag: string) => Promise<void>) => Promise<void>> = {
  'README.md › Quick start #1': runQuickStart,
};

interface Block {
  name: string;
  doc: string;
  /** 1-based line of the block's first code line in its document. */
  line: number;
  code: string;
  file: string;
}

function extractBlocks(doc: string): { blocks: Block[]; languages: string[] } {
  const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n');
  const blocks: Block[] = [];
  const languages: string[] = [];
  const perHeading = new Map<string, number>();
  let heading = '(top)';
  for (let index = 0; index < lines.length; index += 1) {
    const line = lines[index]!;
    const headingMatch = /^#{1,6} (.+)$/.exec(line);
    if (headingMatch) heading = headingMatch[1]!.trim();
    const fence = /^```(\S*)\s*$/.exec(line);
    if (!fence) continue;
    const language = fence[1]!;
    const start = index + 1;
    index += 1;
    while (index < lines.length && !/^```\s*$/.test(lines[index]!)) index += 1;
    languages.push(language);
    if (language !== 'ts') continue;
    const key = `${doc} › ${heading}`;
    const ordinal = (perHeading.get(key) ?? 0) + 1;
    perHeading.set(key, ordinal);
    const name = `${key} #${ordinal}`;
    const slug = `${doc.replace(/\W/g, '-')}-${blocks.length + 1}`;
    blocks.push({ name, doc, line: start + 1, code: lines.slice(start, index).join('\n'), file: join(BLOCK_DIR, `${slug}.ts`) });
  }
  return { blocks, languages };
}

const extracted = DOCS.map(extractBlocks);
const BLOCKS = extracted.flatMap((entry) => entry.blocks);

function compilerOptions(): ts.CompilerOptions {
  const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), (path) => ts.sys.readFile(path));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
  return {
    ...parsed.options,
    noEmit: true,
    // A snippet declares what it shows (`const agent = …`) without always using it.
    noUnusedLocals: false,
    paths: Object.fromEntries(Object.entries(SOURCES).map(([specifier, source]) => [specifier, [join(ROOT, source)]])),
  };
}

const CONTEXT_SPECIFIER = './' + relative(BLOCK_DIR, CONTEXT).replace(/\\/g, '/').replace(/\.ts$/, '.js');

/** The block as a module; the context import goes last, so block lines keep their numbers. */
function moduleText(block: Block, contextNames: readonly string[]): string {
  const tail = contextNames.length > 0 ? `\nimport { ${contextNames.join(', ')} } from '${CONTEXT_SPECIFIER}';` : '';
  return `${block.code}\nexport {};${tail}\n`;
}

/** Names a block uses without declaring them: "Cannot find name 'x'" and its shorthand-property twin. */
const UNDECLARED = new Set([2304, 2552, 18004]);

interface Checked {
  contextNames: string[];
  problems: string[];
}

function typeCheck(blocks: readonly Block[]): Map<string, Checked> {
  mkdirSync(BLOCK_DIR, { recursive: true });
  const options = compilerOptions();
  const results = new Map<string, Checked>(blocks.map((block) => [block.name, { contextNames: [], problems: [] }]));
  for (const block of blocks) writeFileSync(block.file, moduleText(block, []));
  const first = ts.createProgram({ rootNames: blocks.map((block) => block.file), options });
  for (const block of blocks) {
    const names = new Set<string>();
    for (const diagnostic of ts.getPreEmitDiagnostics(first, first.getSourceFile(block.file))) {
      const name = /'([^']+)'/.exec(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))?.[1];
      if (UNDECLARED.has(diagnostic.code) && name !== undefined) names.add(name);
    }
    results.get(block.name)!.contextNames = [...names].sort();
    writeFileSync(block.file, moduleText(block, results.get(block.name)!.contextNames));
  }
  const second = ts.createProgram({ rootNames: blocks.map((block) => block.file), options, oldProgram: first });
  for (const block of blocks) {
    const source = second.getSourceFile(block.file);
    for (const diagnostic of ts.getPreEmitDiagnostics(second, source)) {
      const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      if (diagnostic.file === undefined || diagnostic.start === undefined) {
        results.get(block.name)!.problems.push(`TS${diagnostic.code}: ${text}`);
        continue;
      }
      const { line, character } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      const where = diagnostic.file.fileName === block.file ? `${block.doc}:${block.line + line}:${character + 1}` : diagnostic.file.fileName;
      results.get(block.name)!.problems.push(`${where} TS${diagnostic.code}: ${text}`);
    }
  }
  return results;
}

/** A runnable copy of the block: `ptc-agent` imports point at src/. */
function runnableCopy(block: Block, checked: Checked, tag: string): string {
  const text = moduleText(block, checked.contextNames).replace(
    /(\bfrom\s+|\bimport\s*\(\s*)(['"])(ptc-agent(?:\/[\w-]+)?)\2/g,
    (whole, lead: string, quote: string, specifier: string) => {
      const source = SOURCES[specifier];
      if (source === undefined) throw new Error(`${block.name}: no source for ${specifier}`);
      return `${lead}${quote}./${relative(BLOCK_DIR, join(ROOT, source)).replace(/\\/g, '/')}${quote}`;
    },
  );
  const file = block.file.replace(/\.ts$/, `.${tag}.run.ts`);
  writeFileSync(file, text);
  return file;
}

async function runBlock(block: Block, checked: Checked, tag: string): Promise<void> {
  await import(pathToFileURL(runnableCopy(block, checked, tag)).href);
}

let checkedBlocks: Map<string, Checked>;

beforeAll(() => {
  rmSync(BLOCK_DIR, { recursive: true, force: true });
  checkedBlocks = typeCheck(BLOCKS);
}, 180_000);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('code blocks', () => {
  test('there are ts blocks, and every fenced block is ts (checked here), sh or plain text', () => {
    expect(BLOCKS.length).toBeGreaterThan(10);
    for (const { languages } of extracted) for (const language of languages) expect(['ts', 'sh', '']).toContain(language);
  });

  test('TYPECHECK_ONLY and CUSTOM_RUN name blocks that exist', () => {
    const names = new Set(BLOCKS.map((block) => block.name));
    for (const name of [...Object.keys(TYPECHECK_ONLY), ...Object.keys(CUSTOM_RUN)]) expect(names, name).toContain(name);
  });

  test.each(BLOCKS.map((block) => [block.name, block] as const))('%s', async (_name, block) => {
    const checked = checkedBlocks.get(block.name)!;
    expect(checked.problems, `${block.name} does not compile`).toEqual([]);
    if (TYPECHECK_ONLY[block.name] !== undefined) return;
    const custom = CUSTOM_RUN[block.name];
    if (custom !== undefined) {
      await custom((tag) => runBlock(block, checked, tag));
      return;
    }
    vi.spyOn(console, 'log').mockImplementation(() => {});
    vi.spyOn(console, 'error').mockImplementation(() => {});
    await runBlock(block, checked, 'offline');
  }, 120_000);
});

const FAKE_KEY = 'sk-ant-FAKEKEY-readme-0123456789abcdef';

function slugFiles(body: string): unknown {
  return {
    files: [
      { path: 'slug.py', content: `import re\n\n\ndef slugify(text):\n${body}`, kind: 'source' },
      {
        path: 'test_slug.py',
        content: "from slug import slugify\n\n\ndef test_slugify():\n    assert slugify('  Hello, World! ') == 'hello-world'\n",
        kind: 'test',
      },
    ],
  };
}

async function runQuickStart(run: (tag: string) => Promise<void>): Promise<void> {
  const server = await FakeAnthropicServer.start({ apiKey: FAKE_KEY });
  const workDir = mkdtempSync(join(tmpdir(), 'ptc-readme-'));
  const saved = { key: process.env.ANTHROPIC_API_KEY, url: process.env.ANTHROPIC_BASE_URL, cwd: process.cwd() };
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const error = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    process.env.ANTHROPIC_API_KEY = FAKE_KEY;
    process.env.ANTHROPIC_BASE_URL = server.url;
    process.chdir(workDir);

    // Red (leading and trailing dashes kept), then green.
    server.enqueue(
      { kind: 'stream', events: writeFilesStream(slugFiles("    return re.sub(r'[^a-z0-9]+', '-', text.lower())\n")) },
      { kind: 'stream', events: writeFilesStream(slugFiles("    return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')\n")) },
    );
    await run('green');
    expect(server.problems).toEqual([]);
    const printed = log.mock.calls.map((call) => String(call[0]));
    expect(printed[0]).toMatch(/^iteration 1: 0 passed, 1 failed$/);
    expect(printed).toContain('iteration 2: 1 passed, 0 failed');
    expect(printed.at(-1)).toMatch(/^green in 2 iteration\(s\), [\d.e-]+ USD$/);
    expect(readFileSync(join(workDir, 'output', 'slug.py'), 'utf8')).toContain(".strip('-')");
    expect(error).not.toHaveBeenCalled();

    // A rejected key: the run fails and the quick start says why.
    server.enqueue({ kind: 'error', status: 401, body: { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } } });
    await run('failure');
    expect(error).toHaveBeenCalledTimes(1);
    expect(String(error.mock.calls[0]?.[0])).toMatch(/^failure \(generation_failed\): GENERATION_FAILED .*invalid x-api-key/);
  } finally {
    process.chdir(saved.cwd);
    if (saved.key === undefined) delete process.env.ANTHROPIC_API_KEY;
    else process.env.ANTHROPIC_API_KEY = saved.key;
    if (saved.url === undefined) delete process.env.ANTHROPIC_BASE_URL;
    else process.env.ANTHROPIC_BASE_URL = saved.url;
    await server.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

describe('the package map', () => {
  test('SOURCES covers every export of package.json, and typedoc.json documents each of them', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
    const exported = Object.keys(pkg.exports)
      .filter((key) => key !== './package.json')
      .map((key) => (key === '.' ? 'ptc-agent' : `ptc-agent/${key.slice(2)}`));
    expect(Object.keys(SOURCES).sort()).toEqual(exported.sort());
    for (const source of Object.values(SOURCES)) expect(existsSync(join(ROOT, source)), source).toBe(true);
    const typedoc = JSON.parse(readFileSync(join(ROOT, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };
    expect([...typedoc.entryPoints].sort()).toEqual(Object.values(SOURCES).sort());
  });
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes, repeats numbered. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (/^```/.test(line)) inFence = !inFence;
    const heading = inFence ? null : /^#{1,6} (.+)$/.exec(line);
    if (!heading) continue;
    const base = heading[1]!
      .replace(/\\(.)/g, '$1')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

describe.each(DOCS)('%s links', (doc) => {
  const text = readFileSync(join(ROOT, doc), 'utf8');

  test('every relative link and anchor resolves', () => {
    const broken: string[] = [];
    for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      const [path = '', anchor] = target.split('#');
      const file = path === '' ? join(ROOT, doc) : join(ROOT, dirname(doc), path);
      if (!existsSync(file)) {
        broken.push(`${target}: no such file`);
        continue;
      }
      if (anchor !== undefined && !anchorsOf(readFileSync(file, 'utf8')).has(anchor)) broken.push(`${target}: no such heading`);
    }
    expect(broken).toEqual([]);
  });
});

test('the README names no source or test file a user of the package does not have', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  expect(readme.match(/\b(?:src|test|bench)\/[\w./-]*/g) ?? []).toEqual([]);
});
