export { ScriptedCodeGenerator, type GeneratorScript, type ScriptedStep, type ScriptedCodeGeneratorOptions } from './scripted-generator.js';
export {
  FakeSandboxRunner,
  FakeSandboxSession,
  type FakeSandboxRunnerOptions,
  type FakeTestResult,
  type FakeRunContext,
  type FakeRunScript,
  type FakeFault,
} from './fake-runner.js';
export { MemoryCache } from './memory-cache.js';
export { junitXml, type JUnitCaseInput } from './junit-xml.js';
export { delay } from './delay.js';
export { sandboxRunnerConformance, type SandboxRunnerConformanceOptions } from './conformance/sandbox-runner.js';
export type { ConformanceTestFunction } from './conformance/types.js';
export { codeGeneratorConformance, sampleGenerationRequest, type CodeGeneratorConformanceOptions } from './conformance/code-generator.js';
export { cacheConformance, sampleBundle, type CacheConformanceOptions } from './conformance/cache.js';
export {
  GeneratorScriptFileSchema,
  parseGeneratorScript,
  loadGeneratorScript,
  scriptByIteration,
  type LoadGeneratorScriptOptions,
} from './script-file.js';
