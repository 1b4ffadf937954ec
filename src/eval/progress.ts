import type { EvalProgress } from './runner.js';

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * One status line, redrawn in place while an eval runs — only on a terminal: piped or redirected
 * output gets nothing from it (no carriage-return noise in logs).
 */
export class ProgressLine {
  private drawn = false;

  constructor(private readonly output: Output) {}

  get enabled(): boolean {
    return this.output.isTTY === true;
  }

  update(progress: EvalProgress): void {
    if (!this.enabled) return;
    const width = Math.max(20, (this.output.columns ?? 100) - 1);
    this.output.write(`\r\x1b[K${formatProgress(progress).slice(0, width)}`);
    this.drawn = true;
  }

  /** Clears the line, so what is printed next starts clean. */
  done(): void {
    if (this.enabled && this.drawn) this.output.write('\r\x1b[K');
    this.drawn = false;
  }
}

export function formatProgress(progress: EvalProgress): string {
  const percent = (part: number, whole: number) => (whole === 0 ? '—' : `${((part / whole) * 100).toFixed(1)}%`);
  const cost = progress.costUsd === null ? 'cost unknown' : `$${progress.costUsd.toFixed(4)}`;
  const last = progress.last ? ` · last ${progress.last.id} ${progress.last.heldOutPassed ? 'pass' : 'FAIL'}` : '';
  return (
    `[${String(progress.done).padStart(String(progress.total).length)}/${progress.total}] ` +
    `pass@1 ${progress.heldOutPassed} (${percent(progress.heldOutPassed, progress.done)}) · ` +
    `green ${progress.selfGreen} · false-green ${progress.falseGreen} · ${progress.running} running · ` +
    `${progress.tokens} tokens · ${cost} · ${(progress.elapsedMs / 1000).toFixed(0)} s${last}`
  );
}
