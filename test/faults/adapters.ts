import type {
  ArtifactBundle,
  Cache,
  CacheCallOptions,
  CommandResult,
  SandboxOpenSpec,
  SandboxRunner,
  SandboxSession,
} from '../../src/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator, type FakeRunScript, type FakeSandboxRunnerOptions } from '../../src/testing/index.js';
import { SECRET } from './harness.js';

/**
 * Faulty adapters for the matrix, built on the public fakes. Every one of them leaks the planted
 * secret wherever it can (error messages, notes, progress messages, test output, failure
 * messages, cache errors), so each row also proves the agent scrubs it.
 */

import { BUGGY, FIXED } from '../helpers.js';

export { BUGGY, FIXED };

/** A leaky error: the secret in the message, in a foreign cause, and in an own property. */
export function leakyError(what: string): Error {
  const error = new Error(`${what} failed (api key ${SECRET})`, { cause: new Error(`upstream said: Bearer ${SECRET}`) });
  (error as Error & { request: unknown }).request = { headers: { authorization: `Bearer ${SECRET}` } };
  return error;
}

/** Red on the first call, green after: every answer leaks the secret in its notes and progress. */
export function leakyGenerator(): ScriptedCodeGenerator {
  let call = 0;
  return new ScriptedCodeGenerator((_request, context) => {
    call += 1;
    context.onProgress({ outputTokens: 10, message: `thinking with ${SECRET}` });
    return { files: call === 1 ? BUGGY : FIXED, notes: `notes quoting ${SECRET}` };
  });
}

/** Fails while calc.py subtracts; every run prints the secret and quotes it in its failures. */
export const leakyResults: FakeRunScript = ({ files }) =>
  files.get('calc.py')?.includes('a + b')
    ? { passed: ['test_add'], stdout: `ok ${SECRET}`, stderr: `warn ${SECRET}` }
    : { failed: [{ name: 'test_add', message: `assert -1 == 3 (env ${SECRET})` }], stdout: `FAILED ${SECRET}`, stderr: `E ${SECRET}` };

export function leakyRunner(options: FakeSandboxRunnerOptions = {}): FakeSandboxRunner {
  return new FakeSandboxRunner({ results: leakyResults, ...options });
}

/** Settles when the signal aborts, with its reason; `ignoreSignal` never settles at all. */
export function hang<T>(signal: AbortSignal, ignoreSignal = false): Promise<T> {
  if (ignoreSignal) return new Promise<T>(() => {});
  return new Promise<T>((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

export type CacheFault =
  | 'throws'
  | 'throws-synchronously'
  | 'hangs'
  | 'hangs-ignoring-signal'
  | { corrupt: unknown };

/** A MemoryCache whose `get` or `set` misbehaves; it counts calls so rows can prove it was used. */
export class FaultyCache implements Cache {
  readonly inner = new MemoryCache();
  gets = 0;
  sets = 0;

  constructor(private readonly faults: { get?: CacheFault; set?: CacheFault }) {}

  get(key: string, options: CacheCallOptions): Promise<unknown> {
    this.gets += 1;
    const fault = this.faults.get;
    if (fault === undefined) return this.inner.get(key, options);
    if (typeof fault === 'object') return Promise.resolve(fault.corrupt);
    return this.misbehave(fault, options.signal, 'get');
  }

  set(key: string, bundle: ArtifactBundle, options: CacheCallOptions & { ttlMs: number }): Promise<void> {
    this.sets += 1;
    const fault = this.faults.set;
    if (fault === undefined || typeof fault === 'object') return this.inner.set(key, bundle, options);
    return this.misbehave(fault, options.signal, 'set');
  }

  delete(key: string, options: CacheCallOptions): Promise<void> {
    return this.inner.delete(key, options);
  }

  private misbehave<T>(fault: Exclude<CacheFault, object>, signal: AbortSignal, operation: string): Promise<T> {
    if (fault === 'throws-synchronously') throw leakyError(`cache ${operation}`);
    if (fault === 'throws') return Promise.reject(leakyError(`cache ${operation}`));
    return hang<T>(signal, fault === 'hangs-ignoring-signal');
  }
}

/**
 * A runner that wraps a FakeSandboxRunner and breaks the contract in ways the fake's `faults`
 * cannot: a close that never settles, an open that lands after the run is over, an open that
 * throws synchronously, a `run` that resolves garbage, a `sync` that fails. It counts the
 * sessions it handed out and the closes it was asked for.
 */
export class ContractBreakingRunner implements SandboxRunner {
  readonly id = 'contract-breaking';
  readonly inner: FakeSandboxRunner;
  handedOut = 0;
  closeCalls = 0;
  /** Resolves once a late open has handed out its session. */
  lateOpenLanded: Promise<void> = Promise.resolve();

  constructor(
    private readonly breakage: {
      closeHangs?: boolean;
      openLandsAfterMs?: number;
      openThrowsSynchronously?: boolean;
      runResolves?: unknown;
      syncThrows?: boolean;
    },
    options: FakeSandboxRunnerOptions = {},
  ) {
    this.inner = leakyRunner(options);
  }

  /** Sessions handed to the agent and not closed (as far as the agent asked). */
  get openSessions(): number {
    return this.handedOut - this.closeCalls;
  }

  open(spec: SandboxOpenSpec): Promise<SandboxSession> {
    if (this.breakage.openThrowsSynchronously) throw leakyError('open');
    if (this.breakage.openLandsAfterMs !== undefined) {
      // Ignores the signal on purpose: the session arrives after the agent has given up on it.
      const landed = new Promise<SandboxSession>((resolve) => {
        setTimeout(() => {
          void this.inner.open({ ...spec, signal: new AbortController().signal }).then((session) => resolve(this.wrap(session)));
        }, this.breakage.openLandsAfterMs);
      });
      this.lateOpenLanded = landed.then(() => undefined);
      return landed;
    }
    return this.inner.open(spec).then((session) => this.wrap(session));
  }

  private wrap(session: SandboxSession): SandboxSession {
    this.handedOut += 1;
    const breakage = this.breakage;
    const runner = this;
    return {
      id: session.id,
      sync: (files, options) => (breakage.syncThrows ? Promise.reject(leakyError('sync')) : session.sync(files, options)),
      readFile: (path, options) => session.readFile(path, options),
      run: (argv, options) =>
        'runResolves' in breakage ? Promise.resolve(breakage.runResolves as CommandResult) : session.run(argv, options),
      close: () => {
        runner.closeCalls += 1;
        const closing = session.close();
        return breakage.closeHangs ? new Promise<void>(() => {}) : closing;
      },
    };
  }
}
