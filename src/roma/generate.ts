/** ROMA's executor: the body of `POST /generate` in, its answer out. */
import type { ArtifactBundle, BundleFile, FileKind } from '../bundle.js';
import { PlanValidationError } from '../errors.js';
import { type Language, type Plan, parsePlan } from '../plan.js';
import { toRomaDetail } from './plan.js';
import { romaProviderOf } from './result.js';
import { type RomaGenerateRequest, type RomaGenerateResponse, RomaPlanValidationError, parseRomaGenerateRequest } from './schemas.js';
import { toRomaArtifactType, toRomaStatus } from './status.js';

export interface FromRomaGenerateRequestOptions {
  /** Our execution id for the run (the request carries none). @default a UUID */
  executionId?: string;
  /** @default 3 (ROMA's default `max_iterations`) */
  maxIterations?: number;
  /** @default 300000 (ROMA's executor client waits 300 s) */
  timeoutMs?: number;
}

/** Languages `/generate` accepts, by what a caller may write (case-insensitive). */
const GENERATE_LANGUAGES: Readonly<Record<string, Language>> = {
  python: 'python',
  py: 'python',
  python3: 'python',
  javascript: 'javascript',
  js: 'javascript',
  node: 'javascript',
  typescript: 'typescript',
  ts: 'typescript',
};

/** Where our plan's fields come from in the body of `POST /generate`. */
const GENERATE_LOCATIONS: Readonly<Record<string, Array<string | number>>> = {
  taskDescription: ['task_description'],
  requirements: ['requirements'],
  language: ['language'],
};

/**
 * The body ROMA's `PTCExecutor` sends (`{task_description, requirements, language}`) as a plan:
 * the full loop, tests included, with ROMA's defaults (3 iterations, the `smart` cache).
 * @throws RomaPlanValidationError (422 material) for a bad body or a language we cannot test.
 */
export function fromRomaGenerateRequest(input: RomaGenerateRequest | unknown, options: FromRomaGenerateRequestOptions = {}): Plan {
  const request = parseRomaGenerateRequest(input);
  const language = GENERATE_LANGUAGES[request.language.trim().toLowerCase()];
  if (!language) {
    throw new RomaPlanValidationError([
      { type: 'value_error', loc: ['body', 'language'], msg: `Value error, language must be one of python, javascript, typescript (got ${JSON.stringify(request.language.slice(0, 40))})` },
    ]);
  }
  const requirementIndex: number[] = [];
  const requirements: string[] = [];
  request.requirements.forEach((requirement, index) => {
    if (requirement.trim() === '') return;
    requirementIndex.push(index);
    requirements.push(requirement);
  });
  try {
    return parsePlan({
      ...(options.executionId !== undefined ? { executionId: options.executionId } : {}),
      taskDescription: request.task_description,
      requirements,
      language,
      maxIterations: options.maxIterations ?? 3,
      timeoutMs: options.timeoutMs ?? 300_000,
      enableTesting: true,
      cacheStrategy: 'smart',
      metadata: { roma: { endpoint: 'generate' } },
    });
  } catch (error) {
    if (!(error instanceof PlanValidationError)) throw error;
    throw new RomaPlanValidationError(error.issues.map((issue) => toRomaDetail(issue, requirementIndex, [], GENERATE_LOCATIONS)));
  }
}

const COMMENT_PREFIX: Readonly<Record<string, string>> = { javascript: '//', typescript: '//' };
/** Sources first, then config/data/documentation, tests last: the order a reader wants. */
const KIND_ORDER: Readonly<Record<FileKind, number>> = { source: 0, config: 1, data: 2, documentation: 3, test: 4 };

/**
 * The bundle's files as one string: each file under a `# File: <path>` header (`// File:` for
 * JavaScript and TypeScript plans), sources first and tests last, separated by a blank line.
 * ROMA's executor puts `code` in one fenced block; the headers keep every path, and are the
 * form ROMA's own PTC service parses back into files.
 */
export function renderRomaCode(files: readonly Pick<BundleFile, 'path' | 'content' | 'kind'>[], language: string): string {
  const prefix = COMMENT_PREFIX[language] ?? '#';
  return files
    .map((file, index) => ({ file, index }))
    .sort((a, b) => KIND_ORDER[a.file.kind] - KIND_ORDER[b.file.kind] || a.index - b.index)
    .map(({ file }) => `${prefix} File: ${file.path}\n${file.content}${file.content.endsWith('\n') || file.content === '' ? '' : '\n'}`)
    .join('\n');
}

/**
 * A bundle as `/generate`'s answer, and the HTTP status to send it with. Only green code is a
 * 200: anything else (tests still red, generation failed, timeout) is a 5xx, which ROMA's
 * executor treats like an unreachable service (it falls back to its own LLM) instead of
 * presenting untested code as generated code. The body is complete either way.
 *
 * `tokens_used` and `cost_usd` are what this request spent: 0 for a cache hit.
 */
export function toRomaGenerateResponse(bundle: ArtifactBundle): { httpStatus: 200 | 502 | 503 | 504; body: RomaGenerateResponse & { detail?: string } } {
  const spent = !bundle.fromCache;
  const usage = bundle.usage;
  const tokens = usage.inputTokens + usage.outputTokens + usage.cacheCreationInputTokens + usage.cacheReadInputTokens;
  const report = bundle.testReport;
  const failed = report ? report.failed + report.errored : 0;
  let errorMessage = bundle.error?.message ?? null;
  if (bundle.status === 'partial_success') errorMessage ??= `tests still failing after ${bundle.iterations.length} iteration(s)`;
  const body: RomaGenerateResponse & { detail?: string } = {
    code: renderRomaCode(bundle.files, bundle.language),
    language: bundle.language,
    provider: romaProviderOf(bundle.generator).provider,
    tokens_used: spent ? tokens : 0,
    cost_usd: spent ? (usage.costUsd ?? 0) : 0,
    cost_known: !spent || usage.costUsd !== null,
    execution_id: bundle.executionId,
    status: toRomaStatus(bundle.status),
    tests_passed: report?.passed ?? 0,
    tests_failed: failed,
    iterations_used: bundle.iterations.length,
    from_cache: bundle.fromCache,
    files: bundle.files.map((file) => ({ path: file.path, content: file.content, artifact_type: toRomaArtifactType(file.kind) })),
    warnings: [...bundle.warnings],
    error_message: errorMessage,
  };
  if (bundle.status === 'success') return { httpStatus: 200, body };
  const detail = `${bundle.status}: ${errorMessage ?? bundle.stopReason}`;
  const httpStatus = bundle.status === 'timeout' ? 504 : bundle.status === 'cancelled' ? 503 : 502;
  return { httpStatus, body: { ...body, detail } };
}
