/**
 * `ptc-agent/roma`: ROMA's `roma_dspy.ptc` wire contract. Parse its `PTCExecutionPlan`, run it
 * with a `PTCAgent`, answer its `PTCArtifactResult`, and compute the key its own cache uses.
 *
 * ```ts
 * import { fromRomaPlan, parseRomaPlan, toRomaResult } from 'ptc-agent/roma';
 * const romaPlan = parseRomaPlan(body);                 // 422 material on error (error.detail)
 * const bundle = await agent.execute(fromRomaPlan(romaPlan));
 * return toRomaResult(bundle, { plan: romaPlan });      // HTTP 200, whatever the status
 * ```
 */
export {
  ROMA_LLM_PROVIDERS,
  ROMA_CACHE_STRATEGIES,
  ROMA_EXECUTION_STATUSES,
  ROMA_ARTIFACT_TYPES,
  RomaScaffoldingSpecSchema,
  RomaExecutionPlanSchema,
  RomaCodeArtifactSchema,
  RomaTestResultSchema,
  RomaLLMUsageSchema,
  RomaArtifactResultSchema,
  RomaPlanValidationError,
  parseRomaPlan,
  RomaGenerateRequestSchema,
  parseRomaGenerateRequest,
  romaErrorDetails,
  type RomaLLMProvider,
  type RomaCacheStrategy,
  type RomaExecutionStatus,
  type RomaArtifactType,
  type RomaScaffoldingSpec,
  type RomaScaffoldingSpecInput,
  type RomaExecutionPlan,
  type RomaExecutionPlanInput,
  type RomaCodeArtifact,
  type RomaCodeArtifactInput,
  type RomaTestResult,
  type RomaTestResultInput,
  type RomaLLMUsage,
  type RomaLLMUsageInput,
  type RomaArtifactResult,
  type RomaArtifactResultInput,
  type RomaErrorDetail,
  type RomaGenerateRequest,
  type RomaGenerateRequestInput,
  type RomaGenerateResponse,
} from './schemas.js';
export { formatNaiveUtc } from './pydantic-fields.js';
export { fromRomaPlan, romaExtrasOf, type FromRomaPlanOptions, type RomaPlanExtras } from './plan.js';
export { toRomaResult, romaFailureResult, romaProviderOf, type ToRomaResultOptions } from './result.js';
export { fromRomaGenerateRequest, toRomaGenerateResponse, renderRomaCode, type FromRomaGenerateRequestOptions } from './generate.js';
export { romaCacheKey } from './cache-key.js';
export { toRomaStatus, fromRomaStatus, toRomaArtifactType, fromRomaArtifactType } from './status.js';
export { normaliseRomaDependencies, type NormalisedDependencies, type RefusedDependency } from './dependencies.js';
export { sseJson, romaStreamTimestamp, RomaStreamTranslator, ROMA_STREAM_EVENT_TYPES, type RomaStreamMessage, type RomaStreamEventType } from './stream.js';
export { pythonJsonDumps, pythonStrip, pythonFloatRepr, comparePythonStrings } from './python-json.js';
