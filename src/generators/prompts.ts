import type { GeneratedFile, TestCase, TestReport } from '../bundle.js';
import type { GenerationRequest } from '../contracts/code-generator.js';
import type { Plan } from '../plan.js';
import type { TestPreset } from '../reports/presets.js';
import { languageOf } from '../internal/files.js';
import { trimMiddle } from '../internal/text.js';

/**
 * Prompt building shared by every LLM-backed generator. Nothing here knows about a provider: a
 * generator passes the sentence that tells its model how to answer (call a tool, emit JSON…) and
 * sends the three parts however its API wants them.
 *
 * The parts are split by how often they change, so a provider with prompt caching can cache the
 * stable prefix: `system` never changes for a generator, `plan` never changes within a run, and
 * only `instructions` differs from one iteration to the next.
 */
export interface GenerationPrompt {
  /** Role and rules. Identical for every request of a generator. */
  system: string;
  /** Task, requirements, dependencies, conventions and acceptance tests. Identical for every iteration of a run. */
  plan: string;
  /** What this iteration must do: write from scratch, or fix the previous files given their failures. */
  instructions: string;
}

/** Bounds on what a refinement prompt quotes, so one noisy test run cannot blow the context window. */
export interface PromptLimits {
  /** Failing cases quoted, worst first. @default 20 */
  maxFailures: number;
  /** Characters kept of each failure message (head and tail). @default 2000 */
  maxFailureMessageChars: number;
  /** Characters kept of the test run's stdout, and as many of its stderr. @default 6000 */
  maxTestOutputChars: number;
  /** Characters of previous files quoted in full; files beyond it are named but not quoted. @default 400000 */
  maxPreviousFilesChars: number;
}

export const DEFAULT_PROMPT_LIMITS: Readonly<PromptLimits> = Object.freeze({
  maxFailures: 20,
  maxFailureMessageChars: 2_000,
  maxTestOutputChars: 6_000,
  maxPreviousFilesChars: 400_000,
});

export interface GenerationPromptOptions {
  /**
   * How the model must deliver its answer, e.g. "Call the write_files tool exactly once…". It ends
   * the system prompt and every iteration's instructions, so it survives a system prompt override.
   */
  outputInstruction: string;
  /** Replaces the built-in system prompt (the output instruction is still appended to `instructions`). */
  systemPrompt?: string;
  /** @default DEFAULT_PROMPT_LIMITS */
  limits?: Partial<PromptLimits>;
}

export function buildGenerationPrompt(request: GenerationRequest, options: GenerationPromptOptions): GenerationPrompt {
  const limits = resolvePromptLimits(options.limits);
  return {
    system: options.systemPrompt ?? buildSystemPrompt(options.outputInstruction),
    plan: buildPlanPrompt(request.plan, request.testPreset, request.protectedPaths),
    instructions: buildIterationPrompt(request, options.outputInstruction, limits),
  };
}

/** Merges and checks limits; a bad value throws a TypeError naming it. */
export function resolvePromptLimits(limits: Partial<PromptLimits> | undefined, optionName = 'promptLimits'): PromptLimits {
  const resolved: PromptLimits = { ...DEFAULT_PROMPT_LIMITS, ...limits };
  for (const key of Object.keys(DEFAULT_PROMPT_LIMITS) as Array<keyof PromptLimits>) {
    const value = resolved[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new TypeError(`${optionName}.${key} must be a positive integer, got ${String(value)}`);
    }
  }
  return resolved;
}

export function buildSystemPrompt(outputInstruction: string): string {
  return [
    'You are a senior software engineer. You write working code together with the automated tests that prove it works.',
    'Your files are written into an empty project directory and the test command is run there, in a sandbox without network access.',
    'If any test fails you get the failures back and fix the code.',
    '',
    'Rules:',
    '- Write the implementation and tests that check every requirement, including edge cases and error handling the task implies.',
    '- Tests must be deterministic and fast: no network, no sleeping, no reliance on wall-clock time, randomness or external services.',
    '- Follow the stated layout and test conventions exactly, so that the test command finds and runs your tests.',
    '- Paths are relative to the project root and use forward slashes: no absolute paths, no "..", no home directory.',
    '- Acceptance tests supplied by the user are read-only. They are already in the project; never write, rename or change them. Make the code satisfy them.',
    '- Give every file its kind: "source", "test" (a file the test runner executes), "config", "documentation" or "data".',
    '- Return complete file contents, never diffs, ellipses or placeholders, and return the complete set of files every time: a file you leave out is removed.',
    '- Use only the language\'s standard library and the listed dependencies.',
    '- Keep "notes" short. When you change one of your own tests because the test was wrong rather than the code, say in notes which test and why.',
    '',
    outputInstruction,
  ].join('\n');
}

/** The stable part of the prompt: everything that comes from the plan. Deterministic for a given plan. */
export function buildPlanPrompt(plan: Plan, preset: TestPreset, protectedPaths: readonly string[]): string {
  const sections: string[] = [];
  sections.push(`# Task\n\n${plan.taskDescription.trim()}`);

  if (plan.requirements.length > 0) {
    sections.push(`# Requirements\n\n${plan.requirements.map((requirement, index) => `${index + 1}. ${requirement}`).join('\n')}`);
  }

  const dependencies =
    plan.dependencies.length > 0
      ? `These packages are installed before the tests run, and are the only third-party packages available: ${plan.dependencies.join(', ')}.`
      : 'No third-party packages are installed: use only the standard library.';
  sections.push(`# Dependencies\n\n${dependencies}`);

  const command = preset.command.join(' ') + (preset.appendTestFiles ? ' <the paths of every file of kind "test">' : '');
  sections.push(
    [
      '# Language, layout and tests',
      '',
      `Language: ${plan.language}. Test framework: ${preset.framework}.`,
      preset.conventions,
      `The tests are run from the project root with: \`${command}\``,
      'Every file the test runner must execute has the kind "test".',
    ].join('\n'),
  );

  if (plan.context?.trim()) sections.push(`# Context\n\n${plan.context.trim()}`);
  if (plan.architecture && Object.keys(plan.architecture).length > 0) {
    sections.push(`# Architecture\n\n${fence(JSON.stringify(plan.architecture, null, 2), 'json')}`);
  }
  if (plan.fileStructure && Object.keys(plan.fileStructure).length > 0) {
    const entries = Object.entries(plan.fileStructure).map(([path, description]) => `- ${path}: ${description}`);
    sections.push(`# File structure\n\nUse this layout:\n${entries.join('\n')}`);
  }

  if (plan.acceptanceTests.length > 0) {
    const files = plan.acceptanceTests.map((file) => quoteFile(file.path, file.content)).join('\n\n');
    sections.push(
      [
        '# Acceptance tests (read-only)',
        '',
        'These files are supplied by the user and are present in the project exactly as shown. Your code must make them pass.',
        'Never write, rename or change them; if one looks wrong, make the code satisfy it anyway.',
        '',
        files,
      ].join('\n'),
    );
  }
  const acceptancePaths = new Set(plan.acceptanceTests.map((file) => file.path));
  const otherProtected = protectedPaths.filter((path) => !acceptancePaths.has(path));
  if (otherProtected.length > 0) {
    sections.push(`# Protected paths\n\nNever write these paths:\n${otherProtected.map((path) => `- ${path}`).join('\n')}`);
  }
  return sections.join('\n\n');
}

/** The part that changes every iteration. */
export function buildIterationPrompt(request: GenerationRequest, outputInstruction: string, limits: PromptLimits): string {
  const sections: string[] = [];
  if (request.previousFiles.length === 0) {
    sections.push(`# Iteration ${request.iteration}: write the code and its tests`);
    if (request.candidate) sections.push(candidateNote(request.candidate));
    if (request.problem) {
      sections.push(`## The previous attempt failed\n\n${request.problem.trim()}\n\nAvoid that problem this time.`);
    }
    sections.push('Write the complete implementation and its tests now.');
    sections.push(outputInstruction);
    return sections.join('\n\n');
  }

  sections.push(`# Iteration ${request.iteration}: fix the previous attempt`);
  sections.push(`## Your previous files\n\n${quotePreviousFiles(request.previousFiles, limits.maxPreviousFilesChars)}`);
  if (request.previousReport) sections.push(describeReport(request.previousReport, limits));
  const failures = describeFailures(request.failures, limits);
  if (failures) sections.push(failures);
  if (request.problem) {
    sections.push(`## Problem with the previous attempt\n\n${request.problem.trim()}`);
  }
  sections.push(
    [
      '## What to do',
      '',
      'Find the cause of each failure and fix the code so that every test passes.',
      'Change a test only if it is one of your own and it is wrong, i.e. it contradicts the task or the requirements; then name the test and give the reason in notes.',
      'Never change an acceptance test. Return the complete set of files, changed or not.',
    ].join('\n'),
  );
  sections.push(outputInstruction);
  return sections.join('\n\n');
}

/**
 * Told to each of several independent first attempts, so they do not all write the same thing:
 * the first takes the most direct approach, the others are asked to differ from it.
 */
function candidateNote(candidate: { index: number; count: number }): string {
  const approach =
    candidate.index === 1
      ? 'Take the most direct, conventional approach.'
      : 'Take a different approach from the most obvious one (another algorithm, structure or decomposition), while meeting every requirement; write your tests independently.';
  return `## Candidate ${candidate.index} of ${candidate.count}\n\nThis is one of ${candidate.count} independent attempts at the task; the best-tested one is kept. ${approach}`;
}

/** A note appended to a retried request, so the model knows what was wrong with its last answer. */
export function buildRetryNote(problem: string): string {
  return `## Your previous answer to this request could not be used\n\n${problem.trim()}\n\nAnswer again, avoiding that problem.`;
}

function describeReport(report: TestReport, limits: PromptLimits): string {
  const lines = [
    '## Test results',
    '',
    `Command: \`${report.command}\``,
    `Exit code: ${report.exitCode === null ? 'none (the process was killed)' : String(report.exitCode)}${report.timedOut ? ', timed out' : ''}.`,
    `Passed ${report.passed}, failed ${report.failed}, errored ${report.errored}, skipped ${report.skipped}.`,
  ];
  if (report.problem) lines.push(`Problem: ${report.problem}`);
  const stdout = report.stdout.trim();
  const stderr = report.stderr.trim();
  if (stdout) lines.push('', 'stdout (trimmed):', fence(trimMiddle(stdout, limits.maxTestOutputChars).text));
  if (stderr) lines.push('', 'stderr (trimmed):', fence(trimMiddle(stderr, limits.maxTestOutputChars).text));
  return lines.join('\n');
}

function describeFailures(failures: readonly TestCase[], limits: PromptLimits): string | undefined {
  if (failures.length === 0) return undefined;
  const shown = failures.slice(0, limits.maxFailures);
  const header =
    shown.length < failures.length
      ? `## Failing tests (${shown.length} of ${failures.length} shown)`
      : `## Failing tests (${failures.length})`;
  const items = shown.map((failure, index) => {
    const name = failure.suite ? `${failure.suite} › ${failure.name}` : failure.name;
    const where = failure.file ? ` in ${failure.file}` : '';
    const message = failure.message?.trim();
    const body = message ? `\n${fence(trimMiddle(message, limits.maxFailureMessageChars).text)}` : '';
    return `${index + 1}. ${name}${where}: ${failure.status}${body}`;
  });
  return `${header}\n\n${items.join('\n\n')}`;
}

function quotePreviousFiles(files: readonly GeneratedFile[], maxChars: number): string {
  const quoted: string[] = [];
  const omitted: string[] = [];
  let used = 0;
  for (const file of files) {
    if (used + file.content.length > maxChars) {
      omitted.push(`- ${file.path} (${file.kind}, ${file.content.length} characters)`);
      continue;
    }
    used += file.content.length;
    quoted.push(quoteFile(file.path, file.content, file.kind));
  }
  if (omitted.length > 0) {
    quoted.push(`These files were too large to quote; return a complete version of each anyway:\n${omitted.join('\n')}`);
  }
  return quoted.join('\n\n');
}

function quoteFile(path: string, content: string, kind?: string): string {
  return `### ${path}${kind ? ` (${kind})` : ''}\n${fence(content, fenceLanguageOf(path))}`;
}

/** A Markdown fence longer than any backtick run in `content`, so quoted code cannot close it early. */
export function fence(content: string, language = ''): string {
  let longest = 0;
  for (const match of content.matchAll(/`+/g)) longest = Math.max(longest, match[0].length);
  const marker = '`'.repeat(Math.max(3, longest + 1));
  return `${marker}${language}\n${content}${content.endsWith('\n') ? '' : '\n'}${marker}`;
}

/** The code fence's language tag of a file, or none. */
function fenceLanguageOf(path: string): string {
  return languageOf(path) ?? '';
}
