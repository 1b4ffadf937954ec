/**
 * Builds a PTCAgent from environment variables, falling back to the embedded defaults:
 *
 * | variable | when set | when not set |
 * |---|---|---|
 * | `ANTHROPIC_API_KEY` | `AnthropicCodeGenerator` (model `ANTHROPIC_MODEL` if given; the SDK reads `ANTHROPIC_BASE_URL`) | scripted generator reading `PTC_SCRIPT` |
 * | `DAYTONA_API_KEY` | `DaytonaSandboxRunner` | `LocalSandboxRunner` (isolation `PTC_ISOLATION`, default `auto`) |
 * | `REDIS_URL` | Redis cache (namespace `PTC_CACHE_NAMESPACE`, default `ptc-agent`) and checkpoints on the same Redis (keys `<namespace>:checkpoint:<execution id>`) | in-memory `KeyvCache`, no checkpoints |
 * | `MAX_CONCURRENT_EXECUTIONS` | runs at once | 10 |
 *
 * Shared by the ROMA server and the queue workers.
 */
import { fileURLToPath } from 'node:url';
// Only the package's public entry points (what a user imports as ptc-agent, ptc-agent/testing, …),
// so the example keeps working whatever the core does inside.
import {
  KeyvCache,
  PTCAgent,
  type Cache,
  type CheckpointStore,
  type CodeGenerator,
  type GenerationContext,
  type GenerationRequest,
  type GenerationResult,
  type SandboxRunner,
} from '../../src/index.js';
import { ScriptedCodeGenerator, loadGeneratorScript, scriptByIteration, type ScriptedStep } from '../../src/testing/index.js';

export type Environment = Readonly<Record<string, string | undefined>>;

/** What `/health` reports about the parts the environment chose. Never holds a secret. */
export interface SetupDescription {
  generator: { kind: 'anthropic' | 'scripted'; id: string; script?: string };
  runner: { kind: 'daytona' | 'local'; id: string; isolation?: 'bwrap' | 'none' };
  cache: { kind: 'redis' | 'memory'; namespace?: string };
  /** Where runs save their state between iterations, so the same execution id resumes after a crash. */
  checkpoints: { kind: 'redis' | 'none'; prefix?: string };
  maxConcurrentExecutions: number;
  /** Plain-language notes, e.g. that no model is called. */
  notices: string[];
}

export interface AgentSetup {
  agent: PTCAgent;
  description: SetupDescription;
  /** Model calls made by this process so far (scripted or not). */
  generatorCalls(): number;
  /** Closes what the setup opened (the Redis connection, Daytona sandboxes). Idempotent. */
  close(): Promise<void>;
}

export interface SetupOptions {
  /** Receives warnings of the runner and the cache. @default console.warn */
  onWarning?: (message: string) => void;
}

/** The script the example ships: a calculator that passes its tests at once. */
export const DEFAULT_SCRIPT_PATH = fileURLToPath(new URL('./script.example.json', import.meta.url));

/** `PTC_SCRIPT`: a generator script file (see `GeneratorScriptFileSchema` in ptc-agent/testing). */
export function loadScript(path: string): Promise<ScriptedStep[]> {
  return loadGeneratorScript(path, { label: 'PTC_SCRIPT' });
}

/**
 * Answers iteration n of every run with entry n of the script (a ScriptedCodeGenerator on its
 * own counts calls across runs), and counts calls without keeping every request in memory.
 */
class IterationScriptedGenerator implements CodeGenerator {
  readonly id = 'scripted';
  calls = 0;
  private readonly inner: ScriptedCodeGenerator;

  constructor(steps: readonly ScriptedStep[], latencyMs: number) {
    this.inner = new ScriptedCodeGenerator(scriptByIteration(steps), { latencyMs });
  }

  async generate(request: GenerationRequest, context: GenerationContext): Promise<GenerationResult> {
    this.calls += 1;
    try {
      return await this.inner.generate(request, context);
    } finally {
      // ScriptedCodeGenerator records every request for tests; a long-running server must not.
      this.inner.calls.splice(0);
    }
  }
}

/** A positive integer from the environment (unset or empty: the default). Shared with the queue workers. */
export function positiveInteger(env: Environment, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return value;
}

function nonNegativeInteger(env: Environment, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 0) throw new TypeError(`${name} must be an integer >= 0, got ${JSON.stringify(raw)}`);
  return value;
}

/** Reads the environment (and the script file) and builds the agent. Throws a TypeError naming a bad variable. */
export async function createAgentFromEnvironment(env: Environment = process.env, options: SetupOptions = {}): Promise<AgentSetup> {
  const warn = options.onWarning ?? ((message: string) => console.warn(message));
  const notices: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  const secrets: string[] = [];
  const maxConcurrentExecutions = positiveInteger(env, 'MAX_CONCURRENT_EXECUTIONS', 10);

  // The generator.
  let generator: CodeGenerator;
  let generatorDescription: SetupDescription['generator'];
  let generatorCalls: () => number;
  const anthropicKey = env.ANTHROPIC_API_KEY;
  if (anthropicKey) {
    secrets.push(anthropicKey);
    // Loaded only when used: the Anthropic SDK is an optional peer dependency.
    const { AnthropicCodeGenerator } = await import('../../src/generators/anthropic.js');
    const anthropic = new AnthropicCodeGenerator({ apiKey: anthropicKey, ...(env.ANTHROPIC_MODEL ? { model: env.ANTHROPIC_MODEL } : {}) });
    let calls = 0;
    generator = {
      id: anthropic.id,
      generate: (request, context) => {
        calls += 1;
        return anthropic.generate(request, context);
      },
    };
    generatorCalls = () => calls;
    generatorDescription = { kind: 'anthropic', id: anthropic.id };
  } else {
    const scriptPath = env.PTC_SCRIPT || DEFAULT_SCRIPT_PATH;
    const scripted = new IterationScriptedGenerator(await loadScript(scriptPath), nonNegativeInteger(env, 'PTC_SCRIPT_LATENCY_MS', 0));
    generator = scripted;
    generatorCalls = () => scripted.calls;
    generatorDescription = { kind: 'scripted', id: scripted.id, script: scriptPath };
    notices.push(
      `No ANTHROPIC_API_KEY: the SCRIPTED generator answers every plan from ${env.PTC_SCRIPT ? 'PTC_SCRIPT' : 'the bundled example script'} (${scriptPath}); no model is called.`,
    );
  }

  // The sandbox runner.
  let runner: SandboxRunner;
  let runnerDescription: SetupDescription['runner'];
  const daytonaKey = env.DAYTONA_API_KEY;
  if (daytonaKey) {
    secrets.push(daytonaKey);
    const { DaytonaSandboxRunner } = await import('../../src/runners/daytona.js');
    const daytona = new DaytonaSandboxRunner({
      apiKey: daytonaKey,
      ...(env.DAYTONA_API_URL ? { apiUrl: env.DAYTONA_API_URL } : {}),
      onWarning: (message) => warn(message),
    });
    closers.push(() => daytona.dispose());
    runner = daytona;
    runnerDescription = { kind: 'daytona', id: daytona.id };
  } else {
    const isolation = env.PTC_ISOLATION ?? 'auto';
    if (isolation !== 'auto' && isolation !== 'bwrap' && isolation !== 'none') {
      throw new TypeError(`PTC_ISOLATION must be auto, bwrap or none, got ${JSON.stringify(isolation)}`);
    }
    const { LocalSandboxRunner } = await import('../../src/index.js');
    const local = new LocalSandboxRunner({ isolation, onWarning: (message) => warn(message) });
    runner = local;
    runnerDescription = { kind: 'local', id: local.id, isolation: await local.effectiveIsolation() };
    if (runnerDescription.isolation === 'none') notices.push('The local runner has no bubblewrap jail here: generated code runs with resource limits only.');
  }

  // The cache, and the checkpoints beside it.
  let cache: Cache;
  let cacheDescription: SetupDescription['cache'];
  let checkpoints: CheckpointStore | undefined;
  let checkpointsDescription: SetupDescription['checkpoints'] = { kind: 'none' };
  const redisUrl = env.REDIS_URL;
  if (redisUrl) {
    const namespace = env.PTC_CACHE_NAMESPACE || 'ptc-agent';
    const { createRedisCache } = await import('../../src/caches/redis.js');
    const redis = createRedisCache(redisUrl, { namespace, onWarning: (warning) => warn(`cache: ${warning.message}`) });
    closers.push(() => redis.disconnect());
    try {
      const password = new URL(redisUrl).password;
      if (password) secrets.push(password, decodeURIComponent(password), redisUrl);
    } catch {
      // createRedisCache already rejected a bad URL.
    }
    cache = redis;
    cacheDescription = { kind: 'redis', namespace };

    // Checkpoints on the same Redis: a plan run again under its execution id (a queue job
    // re-delivered after its worker died, a client retrying) resumes where the run stopped, in
    // whichever process takes it. Errors are thrown, so the run reports them (CHECKPOINT_FAILED)
    // and goes on without a checkpoint. Its connection is built like the cache's (no offline queue,
    // bounded reconnects, a close that gives up): with @keyv/redis's defaults a lost Redis would
    // be retried forever and its disconnect would never resolve, hanging a worker's shutdown.
    const { createRedisCheckpointStore } = await import('../../src/caches/redis.js');
    const store = createRedisCheckpointStore(redisUrl, { namespace, onWarning: (warning) => warn(`checkpoints: ${warning.message}`) });
    closers.push(() => store.disconnect());
    checkpoints = store;
    const prefix = store.prefix;
    checkpointsDescription = { kind: 'redis', prefix };
  } else {
    cache = new KeyvCache({ onWarning: (warning) => warn(`cache: ${warning.message}`) });
    cacheDescription = { kind: 'memory' };
  }

  const agent = new PTCAgent({ generator, runner, cache, maxConcurrent: maxConcurrentExecutions, secrets, ...(checkpoints ? { checkpoints } : {}) });
  let closing: Promise<void> | undefined;
  return {
    agent,
    description: { generator: generatorDescription, runner: runnerDescription, cache: cacheDescription, checkpoints: checkpointsDescription, maxConcurrentExecutions, notices },
    generatorCalls,
    close: () => {
      closing ??= Promise.allSettled(closers.map((close) => close())).then(() => undefined);
      return closing;
    },
  };
}
