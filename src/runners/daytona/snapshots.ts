/**
 * Dependency snapshots for the Daytona runner: one Daytona snapshot per dependency set, named
 * from a hash of what makes the set (language, sorted dependencies, install command, base image
 * or snapshot). The first session of a set installs as usual and then snapshots its sandbox;
 * later sessions start from the snapshot and install nothing.
 *
 * Concurrency: in one process, the first `plan` of a name claims it before any await, and every
 * other `plan` of that name waits for the claim's outcome (so n candidates of one run install
 * once). Across processes, a second creator's snapshot request answers "already exists", which is
 * not a failure: that session has its dependencies installed anyway. A snapshot that cannot be
 * made or used is never an error of the run: the session goes on (or starts) as a plain sandbox
 * that installs, and the run is told with a `SNAPSHOT_FAILED` warning.
 */
import type { Daytona, Sandbox } from '@daytonaio/sdk';
import { abortReason, delay, raceAbort, withTimeout } from '../../internal/async.js';
import { canonicalJson } from '../../internal/canonical-json.js';
import { sha256 } from '../../internal/files.js';
import type { Language } from '../../plan.js';
import { errorName, isConflict, isNotFound, statusOf } from './errors.js';

/** Warning code a run gets when a dependency snapshot could not be made or used. */
export const SNAPSHOT_FAILED = 'SNAPSHOT_FAILED';

/** Snapshot states that end well, end badly, or are still on their way (the SDK's `SnapshotState`). */
const ACTIVE = 'active';
const FAILED_STATES: ReadonlySet<string> = new Set(['error', 'build_failed', 'removing', 'inactive']);
/** How often a snapshot still being made by someone else is looked at again. */
const POLL_MS = 1_000;

export interface DependencySetKey {
  readonly language: Language;
  readonly dependencies: readonly string[];
  /** The argv that installs the set: a different install command makes a different snapshot. */
  readonly installCommand: readonly string[];
  /** What sandboxes start from without a dependency snapshot: an image (its name or Dockerfile) or a snapshot name. */
  readonly base: { image?: string; snapshot?: string };
}

/** The snapshot name of a dependency set: stable across processes and versions of the set's order. */
export function dependencySnapshotName(key: DependencySetKey): string {
  const digest = sha256(canonicalJson({ version: 1, language: key.language, dependencies: [...key.dependencies].sort(), installCommand: key.installCommand, base: key.base }));
  return `ptc-deps-${key.language}-${digest.slice(0, 24)}`;
}

export interface SnapshotSettings {
  /** Bounds making a snapshot of a sandbox, and waiting for one someone else is making. */
  readonly snapshotTimeoutMs: number;
  /** Bounds each lookup. */
  readonly requestTimeoutMs: number;
  /** Directory of the runner's command files in the sandbox: emptied before the snapshot is taken. */
  readonly outputDir: string;
  /** Runs an idempotent call with a deadline per attempt, retrying transient failures. */
  retrying<T>(task: (signal: AbortSignal) => Promise<T>, timeoutMs: number, signal: AbortSignal, what: string): Promise<T>;
  /** Scrubs text headed for a warning. */
  scrub(text: string): string;
}

/** What an `open` does about its dependency set. */
export type SnapshotPlan =
  /** Start from this snapshot and install nothing. */
  | { readonly kind: 'use'; readonly name: string }
  /**
   * Install in a plain sandbox, then `capture` it (never throws but on abort; warns itself). Call
   * `abandon` on every path that does not reach `capture` (idempotent), so waiters move on.
   */
  | { readonly kind: 'create'; readonly name: string; capture(sandbox: Sandbox, signal: AbortSignal): Promise<void>; abandon(): void }
  /** Install in a plain sandbox. */
  | { readonly kind: 'plain' };

/** How a claim ended, as the sessions waiting on it see it. */
type Outcome = 'ready' | 'failed' | 'retry';

type Warn = (code: string, message: string) => void;

/** The dependency snapshots of one runner: which exist, which are being made. */
export class DependencySnapshots {
  private readonly ready = new Set<string>();
  private readonly claims = new Map<string, Promise<Outcome>>();

  constructor(private readonly settings: SnapshotSettings) {}

  /**
   * Decides how an `open` gets its dependencies. Rejects only when `signal` aborts; every other
   * problem is a warning and a plain sandbox.
   */
  async plan(client: Daytona, name: string, signal: AbortSignal, warn: Warn): Promise<SnapshotPlan> {
    // A few rounds: a claim that was abandoned or lost a race is looked at afresh.
    for (let round = 0; round < 3; round += 1) {
      if (this.ready.has(name)) return { kind: 'use', name };
      const claimed = this.claims.get(name);
      if (claimed) {
        const outcome = await this.waitFor(claimed, signal);
        if (outcome === 'ready') return { kind: 'use', name };
        if (outcome === 'failed') {
          warn(SNAPSHOT_FAILED, `the dependency snapshot ${name} could not be made; the dependencies are installed in a plain sandbox`);
          return { kind: 'plain' };
        }
        continue;
      }
      // Claimed before the first await: a concurrent `plan` of the same name waits for this one.
      let settle!: (outcome: Outcome) => void;
      const claim = new Promise<Outcome>((resolve) => (settle = resolve));
      this.claims.set(name, claim);
      const release = (outcome: Outcome) => {
        if (this.claims.get(name) !== claim) return;
        this.claims.delete(name);
        if (outcome === 'ready') this.ready.add(name);
        settle(outcome);
      };
      let state: string | undefined;
      try {
        state = await this.lookup(client, name, signal);
      } catch (error) {
        release('retry');
        if (signal.aborted) throw abortReason(signal);
        warn(SNAPSHOT_FAILED, this.settings.scrub(`looking up the dependency snapshot ${name} failed (${describe(error)}); the dependencies are installed in a plain sandbox`));
        return { kind: 'plain' };
      }
      if (state === undefined) return this.creation(name, release, warn);
      if (state === ACTIVE) {
        release('ready');
        return { kind: 'use', name };
      }
      if (!FAILED_STATES.has(state)) {
        // Someone else is making it: wait for it rather than install the same set again.
        let outcome: Outcome;
        try {
          outcome = await this.untilActive(client, name, signal);
        } catch (error) {
          release('retry');
          throw error;
        }
        release(outcome);
        if (outcome === 'ready') return { kind: 'use', name };
        // Gone while it was awaited (its maker gave up): look again.
        if (outcome === 'retry') continue;
        state = 'not active (failed, or not done in time)';
      }
      release('failed');
      warn(SNAPSHOT_FAILED, `the dependency snapshot ${name} is ${state}; the dependencies are installed in a plain sandbox (delete the snapshot to have it made again)`);
      return { kind: 'plain' };
    }
    return { kind: 'plain' };
  }

  /** Forgets that a snapshot exists (it could not be used after all). */
  forget(name: string): void {
    this.ready.delete(name);
  }

  private creation(name: string, release: (outcome: Outcome) => void, warn: Warn): SnapshotPlan {
    return {
      kind: 'create',
      name,
      abandon: () => release('retry'),
      capture: async (sandbox, signal) => {
        try {
          await this.capture(sandbox, name, signal);
          release('ready');
        } catch (error) {
          if (signal.aborted) {
            release('retry');
            throw abortReason(signal);
          }
          if (isConflict(error) || /already exists/i.test(error instanceof Error ? error.message : '')) {
            // Another process made it first: this session has its dependencies all the same.
            release('retry');
            return;
          }
          release('failed');
          warn(SNAPSHOT_FAILED, this.settings.scrub(`making the dependency snapshot ${name} failed (${describe(error)}); this run goes on in its sandbox, and the next one installs again`));
        }
      },
    };
  }

  /** Snapshots the sandbox once its dependencies are in, without the runner's own command files. */
  private async capture(sandbox: Sandbox, name: string, signal: AbortSignal): Promise<void> {
    const { snapshotTimeoutMs, requestTimeoutMs, outputDir } = this.settings;
    const seconds = Math.max(1, Math.ceil(requestTimeoutMs / 1000));
    // The install's output files would otherwise be in every sandbox started from the snapshot.
    await withTimeout(() => sandbox.process.executeCommand(`rm -rf '${outputDir.replaceAll("'", `'\\''`)}'`, undefined, undefined, seconds), requestTimeoutMs, signal, 'Cleaning the sandbox before its snapshot');
    await withTimeout(() => sandbox.createSnapshot(name, Math.max(1, Math.ceil(snapshotTimeoutMs / 1000))), snapshotTimeoutMs, signal, `Making the dependency snapshot ${name}`);
  }

  /** The snapshot's state, `undefined` when there is none of that name. */
  private async lookup(client: Daytona, name: string, signal: AbortSignal): Promise<string | undefined> {
    try {
      const snapshot = await this.settings.retrying(() => client.snapshot.get(name), this.settings.requestTimeoutMs, signal, `Looking up the dependency snapshot ${name}`);
      return typeof snapshot?.state === 'string' ? snapshot.state : 'in an unknown state';
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Polls a snapshot someone else is making until it is active, fails, or `snapshotTimeoutMs` passes. */
  private async untilActive(client: Daytona, name: string, signal: AbortSignal): Promise<Outcome> {
    const deadline = Date.now() + this.settings.snapshotTimeoutMs;
    while (Date.now() < deadline) {
      await delay(Math.min(POLL_MS, Math.max(0, deadline - Date.now())), signal);
      let state: string | undefined;
      try {
        state = await this.lookup(client, name, signal);
      } catch (error) {
        if (signal.aborted) throw abortReason(signal);
        return 'failed';
      }
      if (state === ACTIVE) return 'ready';
      // Gone (its maker gave up) or failed: the caller decides what is left to do.
      if (state === undefined) return 'retry';
      if (FAILED_STATES.has(state)) return 'failed';
    }
    return 'failed';
  }

  /** A claim's outcome, bounded by `snapshotTimeoutMs` (then `failed`) and `signal`. */
  private async waitFor(claim: Promise<Outcome>, signal: AbortSignal): Promise<Outcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => resolve('failed'), this.settings.snapshotTimeoutMs);
    });
    try {
      return await raceAbort(Promise.race([claim, timeout]), signal);
    } finally {
      clearTimeout(timer);
    }
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, 500);
  const status = statusOf(error);
  return `${errorName(error)}${status === undefined ? '' : ` ${status}`}: ${error.message}`.slice(0, 500);
}
