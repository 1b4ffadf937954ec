import type { Cache } from './contracts/cache.js';
import type { CodeGenerator } from './contracts/code-generator.js';
import type { SandboxRunner } from './contracts/sandbox-runner.js';
import { DefaultCache, DefaultRunner } from './defaults.js';
import type { Language } from './plan.js';
import { DEFAULT_TEST_PRESETS, type TestPreset } from './reports/presets.js';
import { durationMs, positiveInteger } from './internal/validate.js';

export interface FileLimitOptions {
  /** @default 200 */
  maxFiles?: number;
  /** @default 1048576 (1 MiB) */
  maxFileBytes?: number;
  /** @default 5242880 (5 MiB) */
  maxTotalBytes?: number;
}

export interface PTCAgentOptions {
  /** Writes the code and tests. */
  generator: CodeGenerator;
  /** Runs the tests. @default new LocalSandboxRunner() (isolation 'auto') */
  runner?: SandboxRunner;
  /** Where bundles are stored between runs; `false` turns caching off. @default new KeyvCache() (in memory) */
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
}

/** Options after defaults and validation; what a run reads. */
export type ResolvedOptions = Required<Omit<PTCAgentOptions, 'cache' | 'testPresets' | 'fileLimits' | 'secrets' | 'runner'>> & {
  runner: SandboxRunner;
  cache: Cache | undefined;
  testPresets: Record<Language, TestPreset>;
  fileLimits: Required<FileLimitOptions>;
};


/** Validates options once, eagerly: a bad option throws a TypeError naming it. */
export function resolveOptions(options: PTCAgentOptions): ResolvedOptions {
  if (!options || typeof options !== 'object') throw new TypeError('PTCAgent options are required');
  const { generator } = options;
  const runner = options.runner ?? new DefaultRunner();
  if (!generator || typeof generator.generate !== 'function' || typeof generator.id !== 'string') {
    throw new TypeError('generator must be a CodeGenerator (an object with an id and generate())');
  }
  if (!runner || typeof runner.open !== 'function' || typeof runner.id !== 'string') {
    throw new TypeError('runner must be a SandboxRunner (an object with an id and open())');
  }
  const cache = options.cache === false ? undefined : (options.cache ?? new DefaultCache());
  if (cache && (typeof cache.get !== 'function' || typeof cache.set !== 'function')) {
    throw new TypeError('cache must be a Cache (get, set, delete) or false');
  }
  const sandboxEnv = options.sandboxEnv ?? {};
  for (const [name, value] of Object.entries(sandboxEnv)) {
    if (typeof value !== 'string') throw new TypeError(`sandboxEnv.${name} must be a string`);
  }
  const limits = options.fileLimits ?? {};
  return {
    generator,
    runner,
    cache,
    maxConcurrent: positiveInteger('maxConcurrent', options.maxConcurrent, 10),
    defaultTimeoutMs: durationMs('defaultTimeoutMs', options.defaultTimeoutMs, 300_000),
    testTimeoutMs: durationMs('testTimeoutMs', options.testTimeoutMs, 120_000),
    cacheTimeoutMs: durationMs('cacheTimeoutMs', options.cacheTimeoutMs, 1_000),
    closeTimeoutMs: durationMs('closeTimeoutMs', options.closeTimeoutMs, 10_000),
    testPresets: { ...DEFAULT_TEST_PRESETS, ...options.testPresets },
    fileLimits: {
      maxFiles: positiveInteger('fileLimits.maxFiles', limits.maxFiles, 200),
      maxFileBytes: positiveInteger('fileLimits.maxFileBytes', limits.maxFileBytes, 1_048_576),
      maxTotalBytes: positiveInteger('fileLimits.maxTotalBytes', limits.maxTotalBytes, 5_242_880),
    },
    sandboxEnv,
  };
}

