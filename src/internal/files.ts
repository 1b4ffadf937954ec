import * as crypto from 'node:crypto';
import type { BundleFile, GeneratedFile, GeneratedFileInput } from '../bundle.js';
import { GeneratedFileSchema } from '../bundle.js';
import { PathSafetyError } from '../errors.js';
import { normalizeRelativePath } from './paths.js';

export interface FileLimits {
  maxFiles: number;
  maxFileBytes: number;
  maxTotalBytes: number;
}

export interface CheckedFiles {
  files: GeneratedFile[];
  /** Problems that fail the iteration, phrased for the model. */
  violations: string[];
  /** Problems resolved deterministically (duplicates), phrased for people. */
  notices: string[];
}

// crypto.hash (Node >= 20.12) is a one-shot digest about three times faster than createHash for
// the small files models write; older Node 20 releases fall back to createHash.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

export function sha256(content: string): string {
  return oneShotHash ? oneShotHash('sha256', content, 'hex') : crypto.createHash('sha256').update(content, 'utf8').digest('hex');
}

/**
 * Checks model output before anything reaches a sandbox: schema, safe paths, sizes, protected
 * paths, and file/directory clashes. Duplicates keep the last occurrence (models revise as they
 * go), at the position of the first, so the result does not depend on anything but the input.
 */
/** Violations listed one by one; the rest are counted, so a message stays bounded. */
const MAX_VIOLATIONS = 20;

/**
 * Paths the agent and the runners own, and names that would load in place of the test framework
 * (on Pythons without PYTHONSAFEPATH): never written from model output.
 */
export function reservedReason(path: string): string | undefined {
  if (path.split('/').some((segment) => segment.startsWith('-'))) return 'has a name starting with "-", which a test command could read as an option';
  const first = path.split('/', 1)[0]!;
  if (first === '.ptc') return 'is inside .ptc/, where the agent keeps its reports and test configuration';
  if (first === 'node_modules') return 'is inside node_modules/, which holds the installed dependencies';
  if (path === first && /^(pytest|py|sitecustomize|usercustomize)\.py$|\.pth$/.test(first)) return 'would load in place of Python or pytest modules';
  if (/^(_pytest|pluggy)$|\.(dist|egg)-info$/.test(first) && path !== first) return 'would load in place of pytest or its plugins';
  return undefined;
}

export function checkGeneratedFiles(
  input: readonly GeneratedFileInput[] | unknown,
  options: FileLimits,
  protectedPaths: ReadonlySet<string>,
  /** Whether a text holds a secret value; such a file is refused, never rewritten. */
  containsSecret: (text: string) => boolean = () => false,
): CheckedFiles {
  const violations: string[] = [];
  const notices: string[] = [];
  if (!Array.isArray(input)) return { files: [], violations: ['the output has no list of files'], notices };
  if (input.length === 0) violations.push('the output contains no files');
  if (input.length > options.maxFiles) {
    violations.push(`the output has ${input.length} files; at most ${options.maxFiles} are allowed`);
    return { files: [], violations, notices };
  }
  const byPath = new Map<string, GeneratedFile>();
  let totalBytes = 0;
  for (const [index, raw] of input.entries()) {
    const parsed = GeneratedFileSchema.safeParse(raw);
    if (!parsed.success) {
      violations.push(`file #${index + 1} is malformed: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'file'} ${issue.message}`).join(', ')}`);
      continue;
    }
    let path: string;
    try {
      path = normalizeRelativePath(parsed.data.path);
    } catch (error) {
      violations.push(error instanceof PathSafetyError ? error.message : `file #${index + 1} has an invalid path`);
      continue;
    }
    if (protectedPaths.has(path)) {
      violations.push(`${path} is an acceptance test supplied by the user; it must not be written or changed`);
      continue;
    }
    const reserved = reservedReason(path);
    if (reserved !== undefined) {
      violations.push(`${path} ${reserved}; choose another path`);
      continue;
    }
    if (containsSecret(path) || containsSecret(parsed.data.content)) {
      // The value is never repeated: the message goes to the model, events and the bundle.
      violations.push(`file #${index + 1} contains the value of a secret (an API key or token from the environment); generated files must never embed secrets: read them from the environment at run time`);
      continue;
    }
    const bytes = Buffer.byteLength(parsed.data.content, 'utf8');
    if (bytes > options.maxFileBytes) {
      violations.push(`${path} is ${bytes} bytes; at most ${options.maxFileBytes} bytes per file are allowed`);
      continue;
    }
    const previous = byPath.get(path);
    if (previous) {
      notices.push(`${path} appeared more than once; the last version was kept`);
      totalBytes -= Buffer.byteLength(previous.content, 'utf8');
    }
    totalBytes += bytes;
    byPath.set(path, { ...parsed.data, path });
  }
  if (totalBytes > options.maxTotalBytes) {
    violations.push(`the files total ${totalBytes} bytes; at most ${options.maxTotalBytes} bytes are allowed`);
  }
  // A file whose path is a directory of another (model file or acceptance test) could never be
  // written: reported once per clashing file, not once per prefix.
  const paths = new Set([...byPath.keys(), ...protectedPaths]);
  for (const path of [...byPath.keys(), ...protectedPaths]) {
    for (let slash = path.indexOf('/'); slash !== -1; slash = path.indexOf('/', slash + 1)) {
      const directory = path.slice(0, slash);
      if (paths.has(directory)) {
        violations.push(`${directory} is both a file and a directory (of ${path})`);
        break;
      }
    }
  }
  const kept =
    violations.length <= MAX_VIOLATIONS ? violations : [...violations.slice(0, MAX_VIOLATIONS), `… and ${violations.length - MAX_VIOLATIONS} more problems`];
  return { files: [...byPath.values()], violations: kept, notices: notices.slice(0, MAX_VIOLATIONS) };
}

export function toBundleFile(file: GeneratedFile, acceptance = false): BundleFile {
  // Built field by field: spreading zod's output objects was the hottest line of a run.
  const bundled: BundleFile = {
    path: file.path,
    content: file.content,
    kind: file.kind,
    sha256: sha256(file.content),
    bytes: Buffer.byteLength(file.content, 'utf8'),
    acceptance,
  };
  const language = file.language ?? languageOf(file.path);
  if (language !== undefined) bundled.language = language;
  if (file.description !== undefined) bundled.description = file.description;
  return bundled;
}

/** The one extension table of the tree (bundles, prompts' code fences, ROMA artifacts). */
const LANGUAGE_BY_EXTENSION: Readonly<Record<string, string>> = {
  py: 'python',
  pyi: 'python',
  js: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  jsx: 'javascript',
  ts: 'typescript',
  mts: 'typescript',
  cts: 'typescript',
  tsx: 'typescript',
  json: 'json',
  md: 'markdown',
  rst: 'rst',
  toml: 'toml',
  yaml: 'yaml',
  yml: 'yaml',
  ini: 'ini',
  cfg: 'ini',
  sh: 'shell',
  txt: 'text',
  csv: 'csv',
};

/** The language of a file by its extension, for bundles whose generator did not say. */
export function languageOf(path: string): string | undefined {
  const dot = path.lastIndexOf('.');
  if (dot <= path.lastIndexOf('/')) return undefined;
  return LANGUAGE_BY_EXTENSION[path.slice(dot + 1).toLowerCase()];
}
