import type { CodeGenerator } from '../contracts/code-generator.js';
import { loadGeneratorScript, scriptByIteration } from '../testing/script-file.js';
import { ScriptedCodeGenerator } from '../testing/scripted-generator.js';
import { UsageError, choiceFlag } from './args.js';

export const GENERATORS = ['anthropic', 'scripted'] as const;

export interface GeneratorChoice {
  generator?: string | undefined;
  script?: string | undefined;
  model?: string | undefined;
}

export interface ChosenGenerator {
  generator: CodeGenerator;
  /** What the progress header says, e.g. `SCRIPTED (script.json; no model is called)`. */
  label: string;
  secrets: string[];
}

type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Picks and builds the generator from flags, then the environment. Everything that can be wrong
 * (a missing key, a missing SDK, a bad script) is a UsageError here, before any model call.
 */
export async function chooseGenerator(choice: GeneratorChoice, env: Environment): Promise<ChosenGenerator> {
  const fromEnv = env.PTC_GENERATOR === '' ? undefined : env.PTC_GENERATOR;
  const kind = choiceFlag(choice.generator ?? fromEnv ?? (choice.script !== undefined ? 'scripted' : 'anthropic'), choice.generator !== undefined ? 'generator' : 'generator (PTC_GENERATOR)', GENERATORS);

  if (kind === 'scripted') {
    if (choice.model !== undefined) throw new UsageError('--model applies to --generator anthropic, not scripted');
    const path = choice.script ?? (env.PTC_SCRIPT || undefined);
    if (path === undefined) throw new UsageError('--generator scripted needs --script <file.json> (or PTC_SCRIPT): a JSON array with one entry per iteration');
    let steps;
    try {
      steps = await loadGeneratorScript(path, { label: choice.script !== undefined ? '--script' : 'PTC_SCRIPT' });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return { generator: new ScriptedCodeGenerator(scriptByIteration(steps)), label: `SCRIPTED (${path}; no model is called)`, secrets: [] };
  }

  if (choice.script !== undefined) throw new UsageError('--script applies to --generator scripted, not anthropic');
  const apiKey = env.ANTHROPIC_API_KEY;
  if (apiKey === undefined || apiKey.trim() === '') {
    throw new UsageError(
      'ANTHROPIC_API_KEY is not set: --generator anthropic needs it. Set it, or try the offline demo (ptc-agent demo) or a scripted generator (--script file.json).',
    );
  }
  let module: typeof import('../generators/anthropic.js');
  try {
    // Loaded only now: @anthropic-ai/sdk is an optional peer dependency.
    module = await import('../generators/anthropic.js');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && String((error as Error).message).includes('@anthropic-ai/sdk');
    if (missing) throw new UsageError('--generator anthropic needs the Anthropic SDK next to ptc-agent: npm install @anthropic-ai/sdk');
    throw error;
  }
  const model = choice.model ?? (env.ANTHROPIC_MODEL || undefined);
  let generator: CodeGenerator;
  try {
    generator = new module.AnthropicCodeGenerator({ apiKey, ...(model !== undefined ? { model } : {}) });
  } catch (error) {
    if (error instanceof TypeError) throw new UsageError(`--generator anthropic: ${error.message}`);
    throw error;
  }
  return { generator, label: generator.id, secrets: [apiKey] };
}
