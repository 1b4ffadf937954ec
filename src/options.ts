import type { Cache } from './contracts/cache.js';
import type { CheckpointStore } from './contracts/checkpoint.js';
import type { CodeGenerator } from './contracts/code-generator.js';
import type { SandboxRunner } from './contracts/sandbox-runner.js';
import { DefaultRunner } from './defaults.js';
import type { Language } from './plan.js';
import { DEFAULT_TEST_PRESETS, TestPresetSchema, type TestPreset } from './reports/presets.js';
import { durationMs, integerAtLeast, nonNegativeInteger, positiveInteger, rejectUnknownKeys } from './internal/validate.js';
import { LANGUAGES } from './plan.js';

export interface FileLimitOptions {
  /** @default 200 */
  maxFiles?: number;
  /** @default 1048576 (1 MiB) */
  maxFileBytes?: number;
  /** @default 5242880 (5 MiB) */
  maxTotalBytes?: number;
}

/** How the test command's output reaches `tests:output` events (only when someone listens). */
export interface TestOutputOptions {
  /** Chunks of one stream arriving within this many ms go out as one event. @default 100 */
  throttleMs?: number;
  /** Longest chunk of one event, at least 100; a longer burst keeps its head and tail. @default 16384 */
  maxCharsPerEvent?: number;
  /** Characters forwarded over a whole run (all iterations, both streams); then the events stop. 0 turns them off. @default 1000000 */
  maxCharsPerRun?: number;
}

export interface PTCAgentOptions {
  /** Writes the code and tests. */
  generator: CodeGenerator;
  /** Runs the tests. @default new LocalSandboxRunner() (isolation 'auto') */
  runner?: SandboxRunner;
  /**
   * Where bundles are stored between runs (`new LruCache()` in this process, `KeyvCache` or
   * `createRedisCache` shared). `false` or absent: no cache, every run generates and tests anew;
   * identical plans in flight at once still share one run. @default none
   */
  cache?: Cache | false;
  /** Runs executing at once; the rest wait in a FIFO queue. @default 10 */
  maxConcurrent?: number;
  /** Wall-clock limit of a run (after it leaves the queue) when the plan sets none. @default 300000 */
  defaultTimeoutMs?: number;
  /** Limit of one test command, further bounded by what is left of the run. @default 120000 */
  testTimeoutMs?: number;
  /** Limit of each cache call; a slower cache counts as a miss. @default 1000 */
  cacheTimeoutMs?: number;
  /** How long to wait for a session to close before moving on (closing continues). @default 10000 */
  closeTimeoutMs?: number;
  /** Test presets by language, replacing the built-in ones. @default DEFAULT_TEST_PRESETS */
  testPresets?: Partial<Record<Language, TestPreset>>;
  /** Checks applied to every file a model returns. */
  fileLimits?: FileLimitOptions;
  /** Environment given to every sandbox command. The host's `process.env` never is. @default {} */
  sandboxEnv?: Record<string, string>;
  /**
   * Values to scrub from events, errors and bundles, on top of the values of host environment
   * variables whose names look secret (`*KEY*`, `*TOKEN*`, `*SECRET*`, `*PASSWORD*`…). @default []
   */
  secrets?: string[];
  /**
   * Where a run's state is saved after every iteration, so `resume(executionId)` (or `execute`
   * with the same plan and execution id) continues it in any process that reaches the store.
   * @default undefined (no checkpoints)
   */
  checkpoints?: CheckpointStore;
  /**
   * 0: a finished run's checkpoint is deleted (an unfinished one expires after 7 days). Above 0:
   * every checkpoint lives this long after its last save, and a finished run's is kept, marked
   * finished (nothing to resume). @default 0
   */
  checkpointTtlMs?: number;
  /** Bounds and pace of the `tests:output` events. */
  testOutput?: TestOutputOptions;
}

/** Options after defaults and validation; what a run reads. */
export type ResolvedOptions = Required<Omit<PTCAgentOptions, 'cache' | 'testPresets' | 'fileLimits' | 'secrets' | 'runner' | 'checkpoints' | 'testOutput'>> & {
  testOutput: Required<TestOutputOptions>;
  runner: SandboxRunner;
  checkpoints: CheckpointStore | undefined;
  cache: Cache | undefined;
  testPresets: Record<Language, TestPreset>;
  fileLimits: Required<FileLimitOptions>;
};


/** Validates options once, eagerly: a bad option throws a TypeError naming it. */
const OPTION_NAMES = [
  'generator', 'runner', 'cache', 'maxConcurrent', 'defaultTimeoutMs', 'testTimeoutMs', 'cacheTimeoutMs',
  'closeTimeoutMs', 'testPresets', 'fileLimits', 'sandboxEnv', 'secrets', 'checkpoints', 'checkpointTtlMs', 'testOutput',
] as const satisfies readonly (keyof PTCAgentOptions)[];
const FILE_LIMIT_NAMES = ['maxFiles', 'maxFileBytes', 'maxTotalBytes'] as const satisfies readonly (keyof FileLimitOptions)[];
const TEST_OUTPUT_NAMES = ['throttleMs', 'maxCharsPerEvent', 'maxCharsPerRun'] as const satisfies readonly (keyof TestOutputOptions)[];
/** Shorter secrets would redact ordinary words (and the Redactor would ignore them). */
export const MIN_SECRET_CHARS = 8;

export function resolveOptions(options: PTCAgentOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') throw new TypeError('PTCAgent options are required');
  rejectUnknownKeys('PTCAgent', options, OPTION_NAMES);
  if (options.fileLimits !== undefined) {
    if (!options.fileLimits || typeof options.fileLimits !== 'object') throw new TypeError('fileLimits must be an object');
    rejectUnknownKeys('PTCAgent fileLimits', options.fileLimits, FILE_LIMIT_NAMES);
  }
  if (options.testOutput !== undefined) {
    if (!options.testOutput || typeof options.testOutput !== 'object') throw new TypeError('testOutput must be an object');
    rejectUnknownKeys('PTCAgent testOutput', options.testOutput, TEST_OUTPUT_NAMES);
  }
  if (options.secrets !== undefined) {
    if (!Array.isArray(options.secrets)) throw new TypeError('secrets must be an array of strings');
    for (const [index, secret] of options.secrets.entries()) {
      if (typeof secret !== 'string') throw new TypeError(`secrets[${index}] must be a string, got ${typeof secret}`);
      if (secret.length < MIN_SECRET_CHARS) {
        throw new TypeError(`secrets[${index}] is shorter than ${MIN_SECRET_CHARS} characters: it would scrub ordinary words, so it is refused rather than silently ignored`);
      }
    }
  }
  const { generator } = options;
  const runner = options.runner ?? new DefaultRunner();
  if (!generator || typeof generator.generate !== 'function' || typeof generator.id !== 'string') {
    throw new TypeError('generator must be a CodeGenerator (an object with an id and generate())');
  }
  if (!runner || typeof runner.open !== 'function' || typeof runner.id !== 'string') {
    throw new TypeError('runner must be a SandboxRunner (an object with an id and open())');
  }
  const cache = options.cache === false ? undefined : options.cache;
  if (cache && (typeof cache.get !== 'function' || typeof cache.set !== 'function')) {
    throw new TypeError('cache must be a Cache (get, set, delete) or false');
  }
  const { checkpoints } = options;
  if (checkpoints !== undefined && (!checkpoints || typeof checkpoints.load !== 'function' || typeof checkpoints.save !== 'function' || typeof checkpoints.delete !== 'function')) {
    throw new TypeError('checkpoints must be a CheckpointStore (load, save, delete)');
  }
  const sandboxEnv = options.sandboxEnv ?? {};
  for (const [name, value] of Object.entries(sandboxEnv)) {
    if (typeof value !== 'string') throw new TypeError(`sandboxEnv.${name} must be a string`);
  }
  const limits = options.fileLimits ?? {};
  const testOutput = options.testOutput ?? {};
  return {
    generator,
    runner,
    cache,
    maxConcurrent: positiveInteger('maxConcurrent', options.maxConcurrent, 10),
    defaultTimeoutMs: durationMs('defaultTimeoutMs', options.defaultTimeoutMs, 300_000),
    testTimeoutMs: durationMs('testTimeoutMs', options.testTimeoutMs, 120_000),
    cacheTimeoutMs: durationMs('cacheTimeoutMs', options.cacheTimeoutMs, 1_000),
    closeTimeoutMs: durationMs('closeTimeoutMs', options.closeTimeoutMs, 10_000),
    testPresets: resolveTestPresets(options.testPresets),
    fileLimits: {
      maxFiles: positiveInteger('fileLimits.maxFiles', limits.maxFiles, 200),
      maxFileBytes: positiveInteger('fileLimits.maxFileBytes', limits.maxFileBytes, 1_048_576),
      maxTotalBytes: positiveInteger('fileLimits.maxTotalBytes', limits.maxTotalBytes, 5_242_880),
    },
    sandboxEnv,
    checkpoints,
    checkpointTtlMs: durationMs('checkpointTtlMs', options.checkpointTtlMs, 0, 0),
    testOutput: {
      // 0 forwards each chunk as it comes (still one timer tick later).
      throttleMs: durationMs('testOutput.throttleMs', testOutput.throttleMs, 100, 0),
      maxCharsPerEvent: integerAtLeast('testOutput.maxCharsPerEvent', testOutput.maxCharsPerEvent, 16_384, 100),
      maxCharsPerRun: nonNegativeInteger('testOutput.maxCharsPerRun', testOutput.maxCharsPerRun, 1_000_000),
    },
  };
}


/** Built-in presets with `overrides` over them, each override checked in full (it is data from a user). */
function resolveTestPresets(overrides: PTCAgentOptions['testPresets']): Record<Language, TestPreset> {
  if (overrides === undefined) return { ...DEFAULT_TEST_PRESETS };
  if (!overrides || typeof overrides !== 'object') throw new TypeError('testPresets must be an object keyed by language');
  rejectUnknownKeys('PTCAgent testPresets', overrides, LANGUAGES);
  const presets = { ...DEFAULT_TEST_PRESETS };
  for (const [language, preset] of Object.entries(overrides) as [Language, unknown][]) {
    const parsed = TestPresetSchema.safeParse(preset);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new TypeError(`testPresets.${language}.${issue.path.join('.')}: ${issue.message}`);
    }
    if (parsed.data.language !== language) throw new TypeError(`testPresets.${language}.language is ${parsed.data.language}; it must be ${language}`);
    // The checked copy, not the caller's object: changing theirs later cannot change a run.
    presets[language] = Object.freeze(parsed.data) as TestPreset;
  }
  return presets;
}
