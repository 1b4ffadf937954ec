import { createClient, createKeyv, type RedisClientType } from '@keyv/redis';
import { PTCError } from '../errors.js';
import { raceAbort, withTimeout } from '../internal/async.js';
import { Redactor } from '../internal/redact.js';
import { durationMs, rejectUnknownKeys } from '../internal/validate.js';
import {
  DEFAULT_CACHE_NAMESPACE,
  describeCacheError,
  KeyvCache,
  type CacheWarning,
} from './keyv.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const CREATE_REDIS_CACHE_OPTION_NAMES = ['namespace', 'connectTimeoutMs', 'operationTimeoutMs', 'reconnectAttempts', 'retryIntervalMs', 'errorWarningIntervalMs', 'onWarning'] as const satisfies readonly (keyof RedisCacheOptions)[];

export type { CacheWarning, KeyvCacheOptions } from './keyv.js';

export interface RedisCacheOptions {
  /** Key prefix: entries are stored as `<namespace>::<cache key>`. @default 'ptc-agent' */
  namespace?: string;
  /** Limit of one TCP connect (and of the connect phase as a whole), in ms. @default 1000 */
  connectTimeoutMs?: number;
  /** Upper bound of every get/set/delete, connecting included, in ms. @default 1000 */
  operationTimeoutMs?: number;
  /**
   * How often the client retries a failed or lost connection (after 50, 100, 200 … ms, at most
   * 1 s apart) before it gives up and closes; the next cache call then connects afresh.
   * @default 3
   */
  reconnectAttempts?: number;
  /**
   * While Redis is down, cache calls start a new connection attempt at most this often; in
   * between they fail at once (a miss for `get`).
   * @default 1000
   */
  retryIntervalMs?: number;
  /**
   * Redis connection errors arrive once per reconnect attempt; they are reported through
   * `onWarning` at most once per this interval, with a count of the ones suppressed.
   * @default 10000
   */
  errorWarningIntervalMs?: number;
  /** See `KeyvCacheOptions.onWarning`. The URL's password never appears in a warning. @default undefined */
  onWarning?: (warning: CacheWarning) => void;
}

const REDIS_PROTOCOLS = new Set(['redis:', 'rediss:']);
/** Caps the commands queued on a connection that stopped answering (a frozen Redis). */
const MAX_QUEUED_COMMANDS = 1_000;
const MAX_RECONNECT_DELAY_MS = 1_000;

function checkCount(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1_000) {
    throw new TypeError(`${name} must be an integer between 0 and 1000, got ${String(value)}`);
  }
  return value;
}

/** The URL with its password replaced, for messages. */
function displayUrl(url: URL): string {
  const shown = new URL(url.href);
  if (shown.password) shown.password = '***';
  return shown.href.replace(/\/$/, '');
}

/**
 * A `KeyvCache` on Redis that can never hang a run: the offline queue is off (commands fail at
 * once while disconnected), connects are bounded, reconnects are bounded and throttled, and every
 * call has its own timeout. It connects lazily, on the first call. Call `disconnect()` when done.
 */
export class RedisCache extends KeyvCache {
  /** The node-redis client, for callers who need raw access. */
  readonly client: RedisClientType;
  private readonly ownsClient: boolean;
  private readonly redactor: Redactor;
  private readonly where: string;
  private readonly retryIntervalMs: number;
  private readonly errorWarningIntervalMs: number;
  private connecting: Promise<boolean> | undefined;
  private lastConnectFailure: { at: number; reason: string } | undefined;
  private lastErrorWarningAt = Number.NEGATIVE_INFINITY;
  private suppressedErrors = 0;
  private closed = false;
  private readonly onClientError = (error: unknown) => this.reportClientError(error);

  /** Use `createRedisCache`. */
  constructor(
    parts: {
      client: RedisClientType;
      ownsClient: boolean;
      url: URL | undefined;
      namespace: string;
      connectTimeoutMs: number;
      operationTimeoutMs: number;
      retryIntervalMs: number;
      errorWarningIntervalMs: number;
      onWarning: ((warning: CacheWarning) => void) | undefined;
    },
  ) {
    const keyv = createKeyv(parts.client, {
      namespace: parts.namespace,
      // Errors must reach KeyvCache: @keyv/redis would otherwise report a failed SET as success.
      throwOnErrors: true,
      throwOnConnectError: false,
      // Only a backstop: `ready()` connects before @keyv/redis would. Its timer is not unref'd
      // (keyv #2070), so it must not be what usually bounds a connect.
      connectionTimeout: parts.connectTimeoutMs,
    });
    super({
      keyv,
      operationTimeoutMs: parts.operationTimeoutMs,
      ...(parts.onWarning ? { onWarning: parts.onWarning } : {}),
    });
    this.client = parts.client;
    this.ownsClient = parts.ownsClient;
    this.retryIntervalMs = parts.retryIntervalMs;
    this.errorWarningIntervalMs = parts.errorWarningIntervalMs;
    const secrets: string[] = [];
    // The URL is only secret when it carries a password (then it contains it).
    if (parts.url?.password) secrets.push(parts.url.href, parts.url.password, decodeURIComponent(parts.url.password));
    this.redactor = new Redactor(secrets);
    this.where = parts.url ? `Redis at ${displayUrl(parts.url)}` : 'Redis';
    // node-redis throws an 'error' without a listener; it emits one per reconnect attempt.
    this.client.on('error', this.onClientError);
  }

  /**
   * Closes the connection this cache opened (pending commands get `operationTimeoutMs` to finish)
   * and makes later calls fail fast. An injected client is left open. Idempotent.
   */
  async disconnect(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsClient) {
      this.client.off('error', this.onClientError);
      return;
    }
    const client = this.client;
    if (client.isOpen) {
      try {
        await withTimeout(() => client.close(), this.operationTimeoutMs, undefined, 'Redis close');
      } catch {
        if (client.isOpen) client.destroy();
      }
    }
    // Late socket errors of the closing connection still need a listener, so it stays attached.
  }

  protected override async ready(signal: AbortSignal): Promise<void> {
    const client = this.client;
    if (client.isReady) return;
    if (this.closed) throw this.unavailable('the cache was disconnected');
    if (!this.ownsClient) throw this.unavailable('the injected client is not connected');
    if (!this.connecting) {
      // Open but not ready: node-redis is reconnecting by itself after a lost connection.
      if (client.isOpen) throw this.unavailable('the connection was lost; reconnecting');
      const failure = this.lastConnectFailure;
      if (failure && Date.now() - failure.at < this.retryIntervalMs) {
        throw this.unavailable(`the last connection attempt failed (${failure.reason})`);
      }
      this.connecting = this.connect();
    }
    if (!(await raceAbort(this.connecting, signal))) {
      throw this.unavailable(`cannot connect (${this.lastConnectFailure?.reason ?? 'unknown error'})`);
    }
  }

  protected override redact(text: string): string {
    return this.redactor.text(text);
  }

  private async connect(): Promise<boolean> {
    try {
      await this.client.connect();
      this.lastConnectFailure = undefined;
      return true;
    } catch (error) {
      this.lastConnectFailure = { at: Date.now(), reason: this.redact(describeCacheError(error)) };
      return false;
    } finally {
      this.connecting = undefined;
    }
  }

  private unavailable(detail: string): PTCError {
    return new PTCError('CACHE_FAILED', this.redact(`${this.where} is unavailable: ${detail}`));
  }

  private reportClientError(error: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorWarningAt < this.errorWarningIntervalMs) {
      this.suppressedErrors += 1;
      return;
    }
    const suppressed = this.suppressedErrors > 0 ? ` (${this.suppressedErrors} more since the last report)` : '';
    this.suppressedErrors = 0;
    this.lastErrorWarningAt = now;
    this.warn({ code: 'CACHE_UNAVAILABLE', message: `${this.where}: ${describeCacheError(error)}${suppressed}` });
  }
}

/**
 * A `RedisCache` for `url` (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS), or
 * for an existing node-redis client, which you connect and close yourself.
 *
 * ```ts
 * import { createRedisCache } from 'ptc-agent/redis';
 * const cache = createRedisCache(process.env.REDIS_URL!, { namespace: 'my-app' });
 * const agent = new PTCAgent({ generator, cache });
 * // on shutdown
 * await cache.disconnect();
 * ```
 */
export function createRedisCache(urlOrClient: string | RedisClientType, options: RedisCacheOptions = {}): RedisCache {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  rejectUnknownKeys('createRedisCache', options, CREATE_REDIS_CACHE_OPTION_NAMES);
  const namespace = options.namespace ?? DEFAULT_CACHE_NAMESPACE;
  if (typeof namespace !== 'string' || namespace.length === 0) throw new TypeError('namespace must be a non-empty string');
  const connectTimeoutMs = durationMs('connectTimeoutMs', options.connectTimeoutMs, 1_000);
  const operationTimeoutMs = durationMs('operationTimeoutMs', options.operationTimeoutMs, 1_000);
  const reconnectAttempts = checkCount('reconnectAttempts', options.reconnectAttempts ?? 3);
  const retryIntervalMs = durationMs('retryIntervalMs', options.retryIntervalMs, 1_000);
  const errorWarningIntervalMs = durationMs('errorWarningIntervalMs', options.errorWarningIntervalMs, 10_000);
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
    throw new TypeError('onWarning must be a function');
  }
  const common = {
    namespace,
    connectTimeoutMs,
    operationTimeoutMs,
    retryIntervalMs,
    errorWarningIntervalMs,
    onWarning: options.onWarning,
  };

  if (typeof urlOrClient !== 'string') {
    if (typeof urlOrClient !== 'object' || urlOrClient === null || typeof urlOrClient.connect !== 'function') {
      throw new TypeError('createRedisCache needs a redis:// URL or a node-redis client');
    }
    return new RedisCache({ ...common, client: urlOrClient, ownsClient: false, url: undefined });
  }

  let url: URL;
  try {
    url = new URL(urlOrClient);
  } catch {
    // The text may hold a password: never echo it.
    throw new TypeError('url must be a valid redis:// or rediss:// URL');
  }
  if (!REDIS_PROTOCOLS.has(url.protocol)) {
    throw new TypeError(`url must start with redis:// or rediss://, got ${url.protocol}//`);
  }
  // node-redis decodes the credentials with decodeURIComponent and would throw a bare URIError.
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new TypeError('url has a user name or password that is not valid percent-encoding (encode it with encodeURIComponent)');
  }
  const client = createClient({
    url: urlOrClient,
    // Commands fail at once while disconnected instead of waiting for a reconnect that may never come.
    disableOfflineQueue: true,
    commandsQueueMaxLength: MAX_QUEUED_COMMANDS,
    socket: {
      connectTimeout: connectTimeoutMs,
      // Bounded: after `reconnectAttempts` the client closes, so no retry loop (and no ref'd timer)
      // outlives a dead Redis; `ready()` reconnects on demand.
      reconnectStrategy: (retries: number, cause: Error) =>
        retries >= reconnectAttempts
          ? new Error(`gave up after ${retries + 1} attempts: ${cause.message}`)
          : Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS),
    },
  }) as RedisClientType;
  return new RedisCache({ ...common, client, ownsClient: true, url });
}

