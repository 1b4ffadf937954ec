import type { OutputStream } from '../contracts/sandbox-runner.js';
import type { RunContext } from './context.js';

/** What one stream has gathered since its last event: scrubbed text, its middle dropped past the cap. */
interface Pending {
  head: string;
  tail: string;
  omitted: number;
  /**
   * The end of the stream so far that may be the start of a secret: held back, unsent, until the
   * next chunk says whether it is one (then it is scrubbed whole) or the command ends.
   */
  held: string;
  timer: NodeJS.Timeout | undefined;
  lastEmitAt: number;
}

/**
 * The live output of one iteration's test commands, as `tests:output` events: per stream, chunks
 * are coalesced to one event per `throttleMs`, scrubbed by the run's redactor (a secret split
 * between two chunks included), cut to `maxCharsPerEvent` (head and tail kept), and counted
 * against the run's `maxCharsPerRun`. `end()` sends what is left and stops it: the runner's
 * callback may still fire afterwards (a command abandoned by an aborted run), and is ignored.
 */
export class TestOutput {
  private readonly streams: Record<OutputStream, Pending> = { stdout: emptyPending(), stderr: emptyPending() };
  private ended = false;

  private constructor(
    private readonly context: RunContext,
    private readonly iteration: number,
    private readonly tag: { candidate?: number },
  ) {}

  /**
   * A stream for the iteration (and candidate: `tag`), or `undefined` when nobody listens (the
   * runner then gets no callback). Candidates tested at once share the run's `maxCharsPerRun`.
   */
  static start(context: RunContext, iteration: number, tag: { candidate?: number } = {}): TestOutput | undefined {
    if (context.testOutputCharsLeft <= 0 || !context.observed('tests:output')) return undefined;
    return new TestOutput(context, iteration, tag);
  }

  /** The runner's callback (`RunOptions.onOutput`), bound. */
  readonly onOutput = (stream: OutputStream, chunk: string): void => {
    if (this.ended || (stream !== 'stdout' && stream !== 'stderr') || typeof chunk !== 'string' || chunk === '') return;
    const pending = this.streams[stream];
    const { redactor } = this.context;
    if (redactor.size === 0) {
      this.append(pending, chunk);
    } else {
      // Scrubbed together with what was held back, so a secret cut in two is still seen whole.
      const scrubbed = redactor.text(pending.held + chunk);
      const held = redactor.partialSuffixLength(scrubbed);
      pending.held = scrubbed.slice(scrubbed.length - held);
      this.append(pending, scrubbed.slice(0, scrubbed.length - held));
    }
    if (pending.timer === undefined && pending.head !== '') {
      const waitMs = Math.max(0, pending.lastEmitAt + this.context.options.testOutput.throttleMs - Date.now());
      pending.timer = setTimeout(() => this.flush(stream), waitMs);
    }
  };

  /** Sends what is pending (held-back text too: nothing follows that could complete a secret) and stops. */
  end(): void {
    if (this.ended) return;
    for (const stream of ['stdout', 'stderr'] as const) {
      const pending = this.streams[stream];
      this.append(pending, pending.held);
      pending.held = '';
      this.flush(stream);
    }
    this.ended = true;
  }

  private append(pending: Pending, text: string): void {
    if (text === '') return;
    const maxChars = this.context.options.testOutput.maxCharsPerEvent;
    // The head keeps a third (where the first error is), the tail the rest (the latest lines).
    const headLimit = Math.floor(maxChars / 3);
    let rest = text;
    if (pending.head.length < headLimit && pending.omitted === 0 && pending.tail === '') {
      const take = headLimit - pending.head.length;
      pending.head += rest.slice(0, take);
      rest = rest.slice(take);
    }
    if (rest === '') return;
    const tail = pending.tail + rest;
    const tailLimit = maxChars - headLimit;
    if (tail.length > tailLimit) {
      pending.omitted += tail.length - tailLimit;
      pending.tail = tail.slice(tail.length - tailLimit);
    } else {
      pending.tail = tail;
    }
  }

  private flush(stream: OutputStream): void {
    const pending = this.streams[stream];
    clearTimeout(pending.timer);
    pending.timer = undefined;
    if (this.ended || (pending.head === '' && pending.tail === '')) return;
    let chunk = pending.omitted === 0 ? pending.head + pending.tail : joinCut(pending.head, pending.tail, pending.omitted);
    pending.head = '';
    pending.tail = '';
    pending.omitted = 0;
    pending.lastEmitAt = Date.now();
    const left = this.context.testOutputCharsLeft;
    if (left <= 0) return;
    const truncated = chunk.length >= left;
    if (truncated) chunk = chunk.slice(0, left);
    // Whatever was cut, the run's output ends here: the event says so, and nothing follows it.
    this.context.testOutputCharsLeft = truncated ? 0 : left - chunk.length;
    this.context.emit('tests:output', { iteration: this.iteration, stream, chunk, ...(truncated ? { truncated: true } : {}), ...this.tag });
  }
}

function emptyPending(): Pending {
  return { head: '', tail: '', omitted: 0, held: '', timer: undefined, lastEmitAt: 0 };
}

/** Head, a marker naming what was dropped, tail: no longer than head + tail. */
function joinCut(head: string, tail: string, omitted: number): string {
  let marker = '';
  // Twice: the count in the marker includes the tail characters the marker itself displaces.
  for (let round = 0; round < 2; round += 1) marker = `\n… [${omitted + marker.length} characters omitted] …\n`;
  return head + marker + tail.slice(Math.min(tail.length, marker.length));
}
