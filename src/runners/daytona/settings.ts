import type { CreateSandboxBaseParams, Image, Resources } from '@daytonaio/sdk';
import type { Language } from '../../plan.js';

/** Creation parameters passed through to Daytona (network policy, volumes, …); those the runner sets itself are left out. */
export type DaytonaSandboxParams = Omit<
  CreateSandboxBaseParams,
  'name' | 'language' | 'labels' | 'envVars' | 'autoStopInterval' | 'autoDeleteInterval' | 'ephemeral'
>;

/** The runner's options, resolved and validated once (in its constructor); what sessions read. */
export interface Settings {
  snapshot: string | undefined;
  image: string | Image | undefined;
  resources: Resources | undefined;
  autoStopIntervalMinutes: number;
  autoDeleteIntervalMinutes: number;
  labels: Readonly<Record<string, string>>;
  sandboxParams: DaytonaSandboxParams;
  createTimeoutMs: number;
  deleteTimeoutMs: number;
  requestTimeoutMs: number;
  installTimeoutMs: number;
  commandGraceMs: number;
  retries: number;
  retryDelayMs: number;
  workspaceDir: string;
  outputDir: string;
  maxOutputBytes: number;
  maxReadBytes: number;
  extraDependencies: Partial<Record<Language, readonly string[]>>;
  installCommand: (language: Language, dependencies: readonly string[]) => readonly string[];
  warn: (message: string, cause?: unknown) => void;
  dependencySnapshots: boolean;
  snapshotTimeoutMs: number;
}

/** Seconds for the SDK's per-call `timeout` parameters, never 0 (which would mean "no limit"). */
export function toSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}
