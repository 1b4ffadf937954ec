import { performance } from 'node:perf_hooks';
import type { SandboxSession } from '../contracts/sandbox-runner.js';
import { SandboxError } from '../errors.js';
import type { RunContext } from './context.js';
import type { RunRecord } from './result.js';

/**
 * Opens the run's sandbox (beside generation), reporting it as events and in the record. A
 * candidate's sandbox (`candidate`, 1-based) is tagged in its events; the record then holds the
 * last to open until the chosen candidate's replaces it.
 */
export async function openSandbox(context: RunContext, record: RunRecord, dependencies: readonly string[], signal: AbortSignal, candidate?: number): Promise<SandboxSession> {
  const tag = candidate === undefined ? {} : { candidate };
  const { options, plan, preset } = context;
  const started = performance.now();
  let session: SandboxSession;
  try {
    session = await options.runner.open({
      executionId: plan.executionId,
      language: plan.language,
      dependencies,
      env: options.sandboxEnv,
      signal,
      onDependenciesInstalled: (info) => context.emit('dependencies:installed', { ...info, ...tag }),
      onWarning: (code, message) => context.warn(String(code).slice(0, 100), String(message)),
    });
  } catch (error) {
    // Only the preset's own tools were being installed (tsx for TypeScript): the plan is fine,
    // the preset is what cannot work here (offline, a registry refusing the package).
    if (error instanceof SandboxError && error.code === 'DEPENDENCY_INSTALL_FAILED' && plan.dependencies.length === 0 && preset.requiredDependencies.length > 0) {
      throw new SandboxError(`the ${preset.framework} preset needs ${preset.requiredDependencies.join(', ')}, which could not be installed: ${error.message}`, {
        code: 'TEST_PRESET_UNAVAILABLE',
        cause: error,
      });
    }
    throw error;
  }
  record.sandboxOpenMs = performance.now() - started;
  record.sandbox = { runner: options.runner.id, id: session.id, ...(typeof session.isolation === 'string' ? { isolation: session.isolation.slice(0, 100) } : {}) };
  context.emit('sandbox:ready', { sandboxId: session.id, runner: options.runner.id, durationMs: record.sandboxOpenMs, dependencies: dependencies.length, ...tag });
  return session;
}
