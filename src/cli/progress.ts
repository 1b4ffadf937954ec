import type { Ora } from 'ora';
import type { PTCAgent } from '../agent.js';
import { totalTokens } from '../usage.js';

/**
 * `live`: an ora spinner on stderr, one finished line per iteration. `lines`: the same facts as
 * plain lines on stderr (CI logs, pipes). `off`: nothing but warnings.
 */
export type ProgressMode = 'live' | 'lines' | 'off';

export interface Terminal {
  json: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** Width of the terminal on stderr; 0 or unknown when it has none (some ptys report 0x0). */
  stderrColumns: number | undefined;
  env: Readonly<Record<string, string | undefined>>;
}

/**
 * Live progress needs a person watching both streams: a pipe on stdout means a program reads the
 * output, and a redrawn line in a log file is noise. With --json, stdout belongs to the bundle and
 * plain lines go to stderr only when a person is there to read them.
 */
export function progressMode(terminal: Terminal): ProgressMode {
  if (terminal.json) return terminal.stderrIsTTY ? 'lines' : 'off';
  const dumb = terminal.env.TERM === 'dumb' || (terminal.env.CI !== undefined && terminal.env.CI !== '' && terminal.env.CI !== 'false');
  // ora divides by the width to count lines to erase: a 0-column terminal would make it erase forever.
  const sized = terminal.stderrColumns !== undefined && terminal.stderrColumns > 0;
  return terminal.stdoutIsTTY && terminal.stderrIsTTY && sized && !dumb ? 'live' : 'lines';
}

const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Text from a run (paths and messages the model or its tests chose) shown on a terminal: control
 * characters are spelled out, so no escape sequence of theirs reaches the terminal, and a line is
 * kept to one line and a bounded length.
 */
export function terminalSafe(text: string, maxLength = 500): string {
  const flat = text.replace(/\r?\n/g, ' ⏎ ').replace(CONTROL, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return flat.length > maxLength ? `${flat.slice(0, maxLength - 1)}…` : flat;
}

export function formatTokens(tokens: number): string {
  return `${Math.round(tokens).toLocaleString('en-US')} tokens`;
}

export function formatCost(costUsd: number, known: boolean): string {
  if (!known) return 'cost unknown';
  return `$${costUsd < 1 ? costUsd.toFixed(4) : costUsd.toFixed(2)}`;
}

export function formatDuration(ms: number): string {
  return ms < 1_000 ? `${Math.round(ms)} ms` : `${(ms / 1_000).toFixed(1)} s`;
}

type Symbol = 'ok' | 'fail' | 'warn' | 'info';
const PLAIN_SYMBOLS: Record<Symbol, string> = { ok: '✔', fail: '✖', warn: '⚠', info: '•' };

export class Progress {
  private spinner: Ora | undefined;
  private status = '';
  private maxIterations = 0;
  private iteration = 0;
  private tokensDone = 0;
  private tokensNow = 0;
  private costUsd = 0;
  private costKnown = true;
  private readonly iterationStarted = new Map<number, number>();

  private constructor(
    readonly mode: ProgressMode,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  /** ora is loaded only for live progress: a --json run in a script never pays for it. */
  static async create(mode: ProgressMode, stream: NodeJS.WriteStream): Promise<Progress> {
    const progress = new Progress(mode, stream);
    if (mode === 'live') {
      const { default: ora } = await import('ora');
      // discardStdin would put stdin in raw mode, and Ctrl-C must stay a SIGINT we handle.
      progress.spinner = ora({ stream, discardStdin: false, hideCursor: true });
    }
    return progress;
  }

  /** A line that stays (a header, a warning, a finished iteration). */
  line(text: string, symbol?: Symbol): void {
    if (this.mode === 'off') return;
    if (this.spinner !== undefined) {
      const spinning = this.spinner.isSpinning;
      if (symbol === 'ok') this.spinner.succeed(text);
      else if (symbol === 'fail') this.spinner.fail(text);
      else if (symbol === 'warn') this.spinner.warn(text);
      else if (symbol === 'info') this.spinner.info(text);
      else this.spinner.stopAndPersist({ symbol: ' ', text });
      if (spinning) this.spinner.start(this.status);
      return;
    }
    this.stream.write(`${symbol === undefined ? '' : `${PLAIN_SYMBOLS[symbol]} `}${text}\n`);
  }

  /** Warnings show in every mode: they say something about the result. */
  warning(text: string): void {
    if (this.mode === 'off') this.stream.write(`warning: ${text}\n`);
    else this.line(text, 'warn');
  }

  /** Subscribes to the agent's events for the one run this CLI makes. */
  attach(agent: PTCAgent): void {
    agent.on('run:start', (event) => {
      this.maxIterations = event.maxIterations;
      this.setStatus('starting');
    });
    agent.on('sandbox:ready', (event) => {
      if (this.mode === 'lines') this.line(`sandbox ready in ${formatDuration(event.durationMs)} (${event.dependencies} dependencies), opened while the model wrote`, 'info');
    });
    agent.on('generation:start', (event) => {
      this.iteration = event.iteration;
      this.tokensNow = 0;
      this.iterationStarted.set(event.iteration, event.timestamp);
      if (this.mode === 'lines') this.line(`${this.iterationLabel()} · generating…`);
      this.setStatus('generating');
    });
    agent.on('generation:progress', (event) => {
      this.tokensNow = event.outputTokens;
      this.setStatus('generating');
    });
    agent.on('generation:end', (event) => {
      this.tokensNow = 0;
      this.tokensDone += totalTokens(event.usage);
      if (event.usage.costUsd === null) this.costKnown = false;
      else this.costUsd += event.usage.costUsd;
      this.setStatus(event.error === undefined ? `${event.files} files written` : 'generation failed');
    });
    agent.on('tests:start', () => {
      if (this.mode === 'lines') this.line(`${this.iterationLabel()} · running the tests…`);
      this.setStatus('running the tests');
    });
    agent.on('iteration:end', (event) => {
      const started = this.iterationStarted.get(event.iteration);
      const took = started === undefined ? '' : ` · ${formatDuration(Math.max(0, event.timestamp - started))}`;
      const outcome =
        event.error !== undefined && event.passed + event.failed === 0
          ? `${event.error.code}: ${terminalSafe(event.error.message, 300)}`
          : `${event.passed} passed, ${event.failed} failed${event.success ? ' — green' : ''}`;
      this.line(`${this.iterationLabel(event.iteration)}${event.candidate === undefined ? '' : ` · candidate ${event.candidate}`} · ${outcome} · ${this.totals()}${took}`, event.success ? 'ok' : 'fail');
    });
    agent.on('warning', (event) => this.warning(`${event.code}: ${terminalSafe(event.message, 300)}`));
  }

  /** Says the run is being cancelled, without waiting for the next event. */
  cancelling(signal: string): void {
    const text = `${signal}: cancelling — closing the sandbox (again to force quit)`;
    if (this.mode === 'off') this.stream.write(`${text}\n`);
    else this.line(text, 'warn');
    this.setStatus('cancelling');
  }

  stop(): void {
    this.spinner?.stop();
  }

  private iterationLabel(iteration = this.iteration): string {
    return `iteration ${iteration}/${this.maxIterations || '?'}`;
  }

  private totals(): string {
    return `${formatTokens(this.tokensDone + this.tokensNow)} · ${formatCost(this.costUsd, this.costKnown)}`;
  }

  private setStatus(phase: string): void {
    if (this.spinner === undefined) return;
    this.status = this.iteration === 0 ? phase : `${this.iterationLabel()} · ${phase} · ${this.totals()}`;
    if (this.spinner.isSpinning) this.spinner.text = this.status;
    else this.spinner.start(this.status);
  }
}
