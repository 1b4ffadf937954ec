/** Names of environment variables whose values are treated as secrets. */
const SECRET_NAME = /(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|PRIVATE)/i;
/** Shorter values would redact ordinary words. */
const MIN_SECRET_CHARS = 8;
const REPLACEMENT = '[redacted]';

/**
 * Replaces known secret values in text headed for an event, an error, a log or a bundle. The
 * secrets are the values of secret-looking variables in the host environment plus any the user
 * names, so a key echoed by generated code or quoted by an SDK error never leaves.
 */
export class Redactor {
  private readonly secrets: string[];

  constructor(extraSecrets: readonly string[] = [], environment: NodeJS.ProcessEnv = process.env) {
    const found = new Set<string>();
    for (const [name, value] of Object.entries(environment)) {
      if (value && value.length >= MIN_SECRET_CHARS && SECRET_NAME.test(name)) found.add(value);
    }
    for (const secret of extraSecrets) if (secret.length >= MIN_SECRET_CHARS) found.add(secret);
    // Longest first, so a secret that contains another is replaced whole.
    this.secrets = [...found].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.secrets.length;
  }

  /** Whether `value` holds any secret. */
  contains(value: string): boolean {
    for (const secret of this.secrets) if (value.includes(secret)) return true;
    return false;
  }

  /** Whether any string anywhere in a JSON-like value holds a secret (keys included). */
  containsIn(value: unknown): boolean {
    if (this.secrets.length === 0) return false;
    const pending: unknown[] = [value];
    // Iterative: a value from outside (a cache entry) may be nested deeper than the stack.
    while (pending.length > 0) {
      const item = pending.pop();
      if (typeof item === 'string') {
        if (this.contains(item)) return true;
      } else if (Array.isArray(item)) {
        pending.push(...item);
      } else if (item && typeof item === 'object') {
        for (const [key, nested] of Object.entries(item)) {
          if (this.contains(key)) return true;
          pending.push(nested);
        }
      }
    }
    return false;
  }

  /**
   * Length of the longest end of `value` that is the start of a secret (and not a whole one):
   * text that may turn into a secret when the next chunk of a stream arrives, so a streamed
   * chunk must hold it back until it knows.
   */
  partialSuffixLength(value: string): number {
    let longest = 0;
    for (const secret of this.secrets) {
      // Only ends shorter than the secret and longer than what was already found can matter.
      for (let start = Math.max(0, value.length - secret.length + 1); start < value.length - longest; start += 1) {
        if (value.charCodeAt(start) === secret.charCodeAt(0) && secret.startsWith(value.slice(start))) {
          longest = value.length - start;
          break;
        }
      }
    }
    return longest;
  }

  text(value: string): string {
    let result = value;
    for (const secret of this.secrets) {
      if (result.includes(secret)) result = result.split(secret).join(REPLACEMENT);
    }
    return result;
  }

  /** Deep copy of a JSON-like value with every string redacted. */
  value<T>(value: T): T {
    if (this.secrets.length === 0) return value;
    return this.walk(value) as T;
  }

  private walk(value: unknown): unknown {
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) return value.map((item) => this.walk(item));
    if (value && typeof value === 'object') {
      const copy: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) copy[key] = this.walk(item);
      return copy;
    }
    return value;
  }
}
