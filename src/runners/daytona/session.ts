import { randomBytes } from 'node:crypto';
import type { Sandbox } from '@daytonaio/sdk';
import type { CommandResult, RunOptions, SandboxFile, SandboxOpenSpec, SandboxSession } from '../../contracts/sandbox-runner.js';
import { PTCTimeoutError, SandboxError, isPTCError } from '../../errors.js';
import { abortReason, throwIfAborted, withTimeout } from '../../internal/async.js';
import { normalizeRelativePath } from '../../internal/paths.js';
import type { Redactor } from '../../internal/redact.js';
import { tail } from '../../internal/text.js';
import {
  buildCommandScript,
  buildReadbackScript,
  needsScriptFile,
  parseFramedOutput,
  scriptFilePath,
  wrapScript,
  wrapScriptFile,
  type FramedOutput,
} from './command-script.js';
import { errorName, isNotFound, isProcessTimeout } from './errors.js';
import { type Settings, toSeconds } from './options.js';

/** What a session needs of its runner (one-way: the runner passes it in). */
export interface SessionInternals {
  settings: Settings;
  redactor: Redactor;
  retrying<T>(task: (signal: AbortSignal) => Promise<T>, timeoutMs: number, signal: AbortSignal, what: string): Promise<T>;
  deleteSandbox(sandbox: Sandbox): Promise<void>;
  toSandboxError(error: unknown, what: string, code: 'SANDBOX_OPEN_FAILED' | 'DEPENDENCY_INSTALL_FAILED' | 'SANDBOX_FAILED'): SandboxError;
  closed(session: DaytonaSandboxSession): void;
}

/**
 * Hands a finished command's output to `onOutput`, once per stream. The SDK could stream a
 * command's logs (session commands with `onStdout`/`onStderr`, over a WebSocket), but the runner
 * runs each command as one `executeCommand`, whose framed answer is what keeps stdout and stderr
 * apart, bounds them in the sandbox and turns a timeout into a result; so output arrives at the end.
 */
function deliverOutput(options: RunOptions, result: CommandResult): CommandResult {
  if (options.onOutput) {
    for (const stream of ['stdout', 'stderr'] as const) {
      try {
        if (result[stream] !== '') options.onOutput(stream, result[stream]);
      } catch {
        // The contract: what the listener throws is ignored.
      }
    }
  }
  return result;
}

type ExecuteOutcome = { kind: 'completed'; exitCode: number; result: string } | { kind: 'killed' } | { kind: 'unanswered' };

export class DaytonaSandboxSession implements SandboxSession {
  readonly id: string;
  /** A Daytona sandbox of its own (a remote VM/container), deleted at close. */
  readonly isolation = 'daytona';
  private sequence = 0;
  /**
   * The last `sync`, until a command applies it: the files were uploaded to a staging directory
   * (one round trip), and the next command's script swaps them in before it runs (none extra).
   * `readFile` answers from here meanwhile.
   */
  private pendingSync: { stageDir: string | undefined; files: Map<string, string> } | undefined;
  private syncs = 0;
  /** What a sync keeps in the workspace: the installed node_modules of a node session, nothing else. */
  private keep: readonly string[] = [];
  private closing: Promise<void> | undefined;

  constructor(
    private readonly sandbox: Sandbox,
    private readonly env: Readonly<Record<string, string>>,
    private readonly internals: SessionInternals,
  ) {
    this.id = sandbox.id;
  }

  /** Installs the dependencies, or (`fromSnapshot`) only takes note that the sandbox's snapshot holds them. */
  async installDependencies(spec: SandboxOpenSpec, dependencies: readonly string[], fromSnapshot = false): Promise<void> {
    const started = performance.now();
    if (dependencies.length > 0 && !fromSnapshot) {
      const bad = dependencies.find((dependency) => dependency.startsWith('-') || dependency.trim() === '');
      if (bad !== undefined) throw new SandboxError(`Refusing to install ${JSON.stringify(bad)}: not a package spec`, { code: 'DEPENDENCY_INSTALL_FAILED' });
      const argv = this.internals.settings.installCommand(spec.language, dependencies);
      let result: CommandResult;
      try {
        result = await this.run(argv, { timeoutMs: this.internals.settings.installTimeoutMs, signal: spec.signal });
      } catch (error) {
        if (spec.signal.aborted) throw abortReason(spec.signal);
        throw this.internals.toSandboxError(error, 'Installing the dependencies failed', 'DEPENDENCY_INSTALL_FAILED');
      }
      if (result.timedOut || result.exitCode !== 0) {
        const why = result.timedOut ? `timed out after ${this.internals.settings.installTimeoutMs} ms` : `exited with ${result.exitCode}`;
        const output = tail(`${result.stdout}\n${result.stderr}`.trim(), 2_000);
        throw new SandboxError(this.internals.redactor.text(`Installing ${dependencies.join(' ')} ${why}:\n${output}`), { code: 'DEPENDENCY_INSTALL_FAILED' });
      }
    }
    // npm installed into the workspace: that node_modules is the session's, and syncs keep it.
    if (dependencies.length > 0 && spec.language !== 'python') this.keep = ['node_modules'];
    spec.onDependenciesInstalled?.({ count: dependencies.length, durationMs: Math.round(performance.now() - started), reused: fromSnapshot });
  }

  async sync(files: readonly SandboxFile[], options: { signal: AbortSignal }): Promise<void> {
    this.assertOpen();
    const byPath = new Map<string, string>();
    for (const file of files) byPath.set(normalizeRelativePath(file.path), file.content);
    throwIfAborted(options.signal);
    const { outputDir, requestTimeoutMs } = this.internals.settings;
    this.syncs += 1;
    // A random name: code from an earlier command can write under the output directory, and a
    // predictable stage would let it plant files that the swap then copies into the workspace.
    const stageDir = byPath.size === 0 ? undefined : `${outputDir}/sync-${this.syncs}-${randomBytes(12).toString('hex')}`;
    if (stageDir !== undefined) {
      // Buffers, never strings: a string source is read as a path on the host (SDK-NOTES §2.3).
      const uploads = [...byPath].map(([path, content]) => ({ source: Buffer.from(content, 'utf8'), destination: `${stageDir}/${path}` }));
      try {
        // Re-uploading the same bytes is harmless, so a broken connection is retried.
        await this.internals.retrying(() => this.sandbox.fs.uploadFiles(uploads, toSeconds(requestTimeoutMs)), requestTimeoutMs, options.signal, 'Uploading files to the Daytona sandbox');
      } catch (error) {
        if (options.signal.aborted) throw abortReason(options.signal);
        throw this.internals.toSandboxError(error, `Uploading ${byPath.size} files to the Daytona sandbox failed`, 'SANDBOX_FAILED');
      }
    }
    this.pendingSync = { stageDir, files: byPath };
  }

  async run(command: readonly string[], options: RunOptions): Promise<CommandResult> {
    this.assertOpen();
    throwIfAborted(options.signal);
    if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) throw new TypeError('run: timeoutMs must be a positive number');
    if (command.length === 0) throw new TypeError('run: the command is empty');
    const { settings } = this.internals;
    this.sequence += 1;
    const sequence = this.sequence;
    const nonce = randomBytes(12).toString('hex');
    const pendingSync = this.pendingSync;
    const scriptOptions = { workspaceDir: settings.workspaceDir, outputDir: settings.outputDir, sequence, nonce, maxOutputBytes: settings.maxOutputBytes };
    const script = buildCommandScript(command, {
      ...scriptOptions,
      ...(pendingSync ? { sync: { stageDir: pendingSync.stageDir, keep: this.keep } } : {}),
    });
    const env = { ...this.env, ...options.env };
    const started = performance.now();
    const commandLine = await this.commandLineFor(script, sequence, options.signal);
    const outcome = await this.execute(commandLine, env, options.timeoutMs, options.signal);
    const durationMs = Math.round(performance.now() - started);

    if (outcome.kind === 'unanswered') {
      // No answer at all: the command may still be running, and the sync may not have happened.
      return {
        exitCode: null,
        stdout: '',
        stderr: `[ptc-agent] the Daytona sandbox did not answer within ${options.timeoutMs + settings.commandGraceMs} ms; the command was abandoned`,
        stdoutTruncated: false,
        stderrTruncated: false,
        timedOut: true,
        durationMs,
      };
    }
    // The script ran (or was killed after it started the command): the sync is applied.
    if (this.pendingSync === pendingSync) this.pendingSync = undefined;
    if (outcome.kind === 'killed') {
      const partial = await this.readBack(scriptOptions, options.signal);
      const note = `[ptc-agent] killed after ${options.timeoutMs} ms (timeout)`;
      return deliverOutput(options, {
        exitCode: null,
        stdout: partial?.stdout ?? '',
        stderr: partial?.stderr ? `${partial.stderr}\n${note}` : note,
        stdoutTruncated: partial?.stdoutTruncated ?? false,
        stderrTruncated: partial?.stderrTruncated ?? false,
        timedOut: true,
        durationMs,
      });
    }
    const framed = parseFramedOutput(outcome.result, nonce, settings.maxOutputBytes);
    if (!framed) {
      throw new SandboxError(
        this.internals.redactor.text(`The Daytona sandbox could not run the command (exit code ${outcome.exitCode}): ${tail(outcome.result.trim(), 1_000) || 'no output'}`),
        { code: 'SANDBOX_FAILED' },
      );
    }
    return deliverOutput(options, {
      exitCode: framed.exitCode,
      stdout: framed.stdout,
      stderr: framed.stderr,
      stdoutTruncated: framed.stdoutTruncated,
      stderrTruncated: framed.stderrTruncated,
      timedOut: false,
      durationMs,
    });
  }

  async readFile(path: string, options: { signal: AbortSignal }): Promise<string | undefined> {
    this.assertOpen();
    const normalized = normalizeRelativePath(path);
    throwIfAborted(options.signal);
    if (this.pendingSync) return this.pendingSync.files.get(normalized);
    const { workspaceDir, requestTimeoutMs, maxReadBytes } = this.internals.settings;
    const remote = `${workspaceDir}/${normalized}`;
    try {
      return await this.internals.retrying(
        async (signal) => {
          // Streamed, so an oversized file is refused after maxReadBytes, not after buffering it all.
          const stream = await this.sandbox.fs.downloadFileStream(remote, { timeout: toSeconds(requestTimeoutMs), signal });
          const chunks: Buffer[] = [];
          let bytes = 0;
          try {
            for await (const chunk of stream as AsyncIterable<Buffer | string>) {
              const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
              bytes += buffer.length;
              if (bytes > maxReadBytes) throw new SandboxError(`${normalized} is larger than ${maxReadBytes} bytes (maxReadBytes)`, { code: 'OUTPUT_REJECTED' });
              chunks.push(buffer);
            }
          } finally {
            stream.destroy();
          }
          return Buffer.concat(chunks).toString('utf8');
        },
        requestTimeoutMs,
        options.signal,
        `Reading ${normalized} from the Daytona sandbox`,
      );
    } catch (error) {
      if (options.signal.aborted) throw abortReason(options.signal);
      if (isNotFound(error)) return undefined;
      throw this.internals.toSandboxError(error, `Reading ${normalized} from the Daytona sandbox failed`, 'SANDBOX_FAILED');
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await this.internals.deleteSandbox(this.sandbox);
      } catch (error) {
        this.internals.settings.warn(
          `ptc-agent could not delete Daytona sandbox ${this.id}; Daytona's auto-stop/auto-delete or sweepOrphans() will remove it`,
          error,
        );
      } finally {
        this.internals.closed(this);
      }
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) throw new SandboxError(`Daytona session ${this.id} is closed`, { code: 'SANDBOX_FAILED' });
  }

  /**
   * `sh -c '<script>'`, or, for a script too long for one exec argument (E2BIG), `sh '<file>'`
   * after uploading the script beside the command's output files. Like those files it is named
   * by the command's sequence number, so it is never reused, and it goes with the sandbox.
   */
  private async commandLineFor(script: string, sequence: number, signal: AbortSignal): Promise<string> {
    if (!needsScriptFile(script)) return wrapScript(script);
    const { outputDir, requestTimeoutMs } = this.internals.settings;
    const path = scriptFilePath(outputDir, sequence);
    // A Buffer, never a string: a string source is read as a path on the host (SDK-NOTES §2.3).
    const uploads = [{ source: Buffer.from(script, 'utf8'), destination: path }];
    try {
      // Re-uploading the same bytes is harmless, so a broken connection is retried.
      await this.internals.retrying(() => this.sandbox.fs.uploadFiles(uploads, toSeconds(requestTimeoutMs)), requestTimeoutMs, signal, 'Uploading a command script to the Daytona sandbox');
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      throw this.internals.toSandboxError(error, 'Uploading a command script to the Daytona sandbox failed', 'SANDBOX_FAILED');
    }
    return wrapScriptFile(path);
  }

  /**
   * One `executeCommand`. Never retried: a test run is not idempotent, and after a broken
   * connection its outcome is unknown.
   */
  private async execute(commandLine: string, env: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<ExecuteOutcome> {
    const seconds = toSeconds(timeoutMs);
    const deadlineMs = seconds * 1000 + this.internals.settings.commandGraceMs;
    try {
      const response = await withTimeout(
        () => this.sandbox.process.executeCommand(commandLine, undefined, env, seconds),
        deadlineMs,
        signal,
        'A command in the Daytona sandbox',
      );
      return { kind: 'completed', exitCode: response.exitCode, result: response.result ?? '' };
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      if (error instanceof PTCTimeoutError || errorName(error) === 'DaytonaConnectionTimeoutError') return { kind: 'unanswered' };
      if (isProcessTimeout(error)) return { kind: 'killed' };
      if (isPTCError(error)) throw error;
      throw this.internals.toSandboxError(error, 'Running a command in the Daytona sandbox failed (not retried: its outcome is unknown)', 'SANDBOX_FAILED');
    }
  }

  /** Best effort: what a killed command had written, capped like any output. */
  private async readBack(
    options: { workspaceDir: string; outputDir: string; sequence: number; nonce: string; maxOutputBytes: number },
    signal: AbortSignal,
  ): Promise<FramedOutput | undefined> {
    const nonce = randomBytes(12).toString('hex');
    const script = buildReadbackScript({ ...options, nonce });
    try {
      const timeoutMs = Math.min(10_000, this.internals.settings.requestTimeoutMs);
      const response = await withTimeout(
        () => this.sandbox.process.executeCommand(wrapScript(script), undefined, undefined, toSeconds(timeoutMs)),
        timeoutMs + 1_000,
        signal,
        'Reading back the output of a killed command',
      );
      return parseFramedOutput(response.result ?? '', nonce, options.maxOutputBytes);
    } catch (error) {
      if (signal.aborted) throw abortReason(signal);
      return undefined;
    }
  }
}
