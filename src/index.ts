export { PTCAgent, EVENTS_CHANNEL_NAME, type PTCAgentOptions, type ExecuteOptions, type AgentStats, type CloseOptions, type FileLimitOptions, type TestOutputOptions } from './agent.js';
export {
  PlanSchema,
  parsePlan,
  LanguageSchema,
  LANGUAGES,
  CacheStrategySchema,
  CACHE_STRATEGIES,
  DependencySchema,
  PlanFileSchema,
  MAX_CANDIDATES,
  type Plan,
  type PlanInput,
  type PlanFile,
  type Language,
  type CacheStrategy,
} from './plan.js';
export {
  ArtifactBundleSchema,
  BundleFileSchema,
  GeneratedFileSchema,
  TestReportSchema,
  TestCaseSchema,
  UsageSchema,
  IterationRecordSchema,
  TimingsSchema,
  ErrorInfoSchema,
  FILE_KINDS,
  BUNDLE_STATUSES,
  STOP_REASONS,
  TEST_CASE_STATUSES,
  emptyUsage,
  addUsage,
  totalTokens,
  type ArtifactBundle,
  type BundleFile,
  type BundleStatus,
  type GeneratedFile,
  type GeneratedFileInput,
  type FileKind,
  type TestReport,
  type TestCase,
  type Usage,
  type IterationRecord,
  type Timings,
  type ErrorInfo,
  type StopReason,
} from './bundle.js';
export {
  PTCError,
  PlanValidationError,
  GenerationError,
  SandboxError,
  PathSafetyError,
  PTCTimeoutError,
  PTCAbortError,
  isPTCError,
  ERROR_CODES,
  type ErrorCode,
  type PlanIssue,
} from './errors.js';
export { EVENT_NAMES, type CandidateTag, type PTCEventMap, type PTCEventName, type PTCStreamItem } from './events.js';
export type { CodeGenerator, GenerationRequest, GenerationContext, GenerationResult, GenerationProgress } from './contracts/code-generator.js';
export type {
  SandboxRunner,
  SandboxSession,
  SandboxOpenSpec,
  SandboxPreflightSpec,
  SandboxFile,
  RunOptions,
  CommandResult,
  DependenciesInstalledInfo,
  OutputStream,
} from './contracts/sandbox-runner.js';
export type { Cache, CacheCallOptions } from './contracts/cache.js';
export type { CheckpointStore, CheckpointCallOptions } from './contracts/checkpoint.js';
export { CheckpointStateSchema, CheckpointFileSchema, CHECKPOINT_VERSION, checkpointPlanHash, type CheckpointState, type CheckpointFile } from './checkpoint-state.js';
export { MemoryCheckpointStore } from './checkpoints/memory.js';
export { KeyvCheckpointStore, type KeyvCheckpointStoreOptions } from './checkpoints/keyv.js';
export {
  DEFAULT_TEST_PRESETS,
  PYTHON_PYTEST,
  JAVASCRIPT_NODE_TEST,
  TYPESCRIPT_NODE_TEST,
  REPORT_PATH,
  type TestPreset,
  type ExitCodeRule,
} from './reports/presets.js';
export {
  buildGenerationPrompt,
  buildSystemPrompt,
  buildPlanPrompt,
  buildIterationPrompt,
  buildRetryNote,
  resolvePromptLimits,
  DEFAULT_PROMPT_LIMITS,
  type GenerationPrompt,
  type GenerationPromptOptions,
  type PromptLimits,
} from './generators/prompts.js';
export { parseJUnit, type JUnitParseResult, type JUnitParseOptions } from './reports/junit.js';
export { runTests, formatCommand, type RunTestsOptions } from './reports/run-tests.js';
export { cacheKey, canonicalPlan, CACHE_FORMAT_VERSION, type CacheKeyParts } from './cache-key.js';
export { writeBundle, type WriteBundleOptions, type WriteBundleResult } from './write-bundle.js';
export { verifyBundle, type VerifyBundleOptions, type VerifyResult } from './verify.js';
export { normalizeRelativePath, isSafeRelativePath } from './internal/paths.js';
export { LruCache, type LruCacheOptions } from './caches/lru.js';
export { KeyvCache, DEFAULT_CACHE_NAMESPACE, type KeyvCacheOptions, type CacheWarning, type CacheEntry } from './caches/keyv.js';
export { LocalSandboxRunner, type LocalSandboxRunnerOptions, type LocalIsolation } from './runners/local.js';
export { toSSEResponse, toSSEStream, sendSSE, formatSSEEvent, type SSEOptions, type SSESource } from './serve/sse.js';
