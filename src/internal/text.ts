/**
 * Keeps at most `maxChars` of `text`: the head and the tail, which is where test runners put the
 * first error and the summary.
 */
export function trimMiddle(text: string, maxChars: number): { text: string; truncated: boolean } {
  if (text.length <= maxChars) return { text, truncated: false };
  const marker = `\n… [${text.length - maxChars} characters omitted] …\n`;
  const keep = Math.max(0, maxChars - marker.length);
  const head = Math.floor(keep / 3);
  return { text: text.slice(0, head) + marker + text.slice(text.length - (keep - head)), truncated: true };
}

/** The last `maxChars` characters of a text. */
export function tail(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `…${text.slice(text.length - maxChars)}`;
}
