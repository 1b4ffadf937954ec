import { createClient, type RedisClientType } from '@keyv/redis';
import { PTCError, type ErrorCode } from '../errors.js';
import { raceAbort, withTimeout } from '../internal/async.js';
import { Redactor } from '../internal/redact.js';
import { durationMs } from '../internal/validate.js';
import { describeCacheError } from './keyv.js';

/**
 * The node-redis connection the Redis cache and the Redis checkpoint store share, hardened so that
 * a dead or frozen Redis can never hang a run or a shutdown: no offline queue (commands fail at
 * once while disconnected), bounded connects, bounded and throttled reconnects, a close that gives
 * up after a timeout, and the URL's password kept out of every message.
 */

/** Connection options common to `createRedisCache` and `createRedisCheckpointStore`. */
export interface RedisConnectionOptions {
  /** Limit of one TCP connect (and of the connect phase as a whole), in ms. @default 1000 */
  connectTimeoutMs?: number;
  /** Upper bound of every call, connecting included, and of `disconnect()`, in ms. @default 1000 */
  operationTimeoutMs?: number;
  /**
   * How often the client retries a failed or lost connection (after 50, 100, 200 … ms, at most
   * 1 s apart) before it gives up and closes; the next call then connects afresh.
   * @default 3
   */
  reconnectAttempts?: number;
  /**
   * While Redis is down, calls start a new connection attempt at most this often; in between
   * they fail at once.
   * @default 1000
   */
  retryIntervalMs?: number;
  /**
   * Redis connection errors arrive once per reconnect attempt; they are reported through
   * `onWarning` at most once per this interval, with a count of the ones suppressed.
   * @default 10000
   */
  errorWarningIntervalMs?: number;
}

export const REDIS_CONNECTION_OPTION_NAMES = [
  'connectTimeoutMs',
  'operationTimeoutMs',
  'reconnectAttempts',
  'retryIntervalMs',
  'errorWarningIntervalMs',
] as const satisfies readonly (keyof RedisConnectionOptions)[];

export type ResolvedRedisConnectionOptions = Required<RedisConnectionOptions>;

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

/** Validates the connection options and fills in their defaults; a bad one is a TypeError naming it. */
export function resolveRedisConnectionOptions(options: RedisConnectionOptions): ResolvedRedisConnectionOptions {
  return {
    connectTimeoutMs: durationMs('connectTimeoutMs', options.connectTimeoutMs, 1_000),
    operationTimeoutMs: durationMs('operationTimeoutMs', options.operationTimeoutMs, 1_000),
    reconnectAttempts: checkCount('reconnectAttempts', options.reconnectAttempts ?? 3),
    retryIntervalMs: durationMs('retryIntervalMs', options.retryIntervalMs, 1_000),
    errorWarningIntervalMs: durationMs('errorWarningIntervalMs', options.errorWarningIntervalMs, 10_000),
  };
}

/** The URL with its password replaced, for messages. */
function displayUrl(url: URL): string {
  const shown = new URL(url.href);
  if (shown.password) shown.password = '***';
  return shown.href.replace(/\/$/, '');
}

export interface RedisConnectionEvents {
  /** What the connection serves, for messages: `the cache`, `the checkpoint store`. */
  subject: string;
  /** Code of the errors `ready()` throws while Redis is unavailable. */
  errorCode: ErrorCode;
  /** Receives connection errors, throttled, already redacted. */
  onError: (message: string) => void;
}

/**
 * One node-redis client and the rules around it: `ready()` connects lazily and refuses calls
 * fast while Redis is down, `disconnect()` closes what this connection opened within
 * `operationTimeoutMs`. An injected client is used as it is and never closed.
 */
export class RedisConnection {
  readonly client: RedisClientType;
  readonly ownsClient: boolean;
  /** `Redis at redis://host:port` (password masked), or `Redis` for an injected client. */
  readonly where: string;
  private readonly redactor: Redactor;
  private readonly options: ResolvedRedisConnectionOptions;
  private readonly events: RedisConnectionEvents;
  private connecting: Promise<boolean> | undefined;
  private lastConnectFailure: { at: number; reason: string } | undefined;
  private lastErrorWarningAt = Number.NEGATIVE_INFINITY;
  private suppressedErrors = 0;
  private closed = false;
  private readonly onClientError = (error: unknown) => this.reportClientError(error);

  private constructor(client: RedisClientType, ownsClient: boolean, url: URL | undefined, options: ResolvedRedisConnectionOptions, events: RedisConnectionEvents) {
    this.client = client;
    this.ownsClient = ownsClient;
    this.options = options;
    this.events = events;
    const secrets: string[] = [];
    // The URL is only secret when it carries a password (then it contains it).
    if (url?.password) secrets.push(url.href, url.password, decodeURIComponent(url.password));
    this.redactor = new Redactor(secrets);
    this.where = url ? `Redis at ${displayUrl(url)}` : 'Redis';
    // node-redis throws an 'error' without a listener; it emits one per reconnect attempt.
    this.client.on('error', this.onClientError);
  }

  /**
   * A connection for `urlOrClient`: a `redis://` / `rediss://` URL (checked here, never echoed,
   * as it may hold a password), or a node-redis client the caller connects and closes. No I/O.
   * @param caller names the factory in the TypeError for something that is neither.
   */
  static open(caller: string, urlOrClient: string | RedisClientType, options: ResolvedRedisConnectionOptions, events: RedisConnectionEvents): RedisConnection {
    if (typeof urlOrClient !== 'string') {
      if (typeof urlOrClient !== 'object' || urlOrClient === null || typeof urlOrClient.connect !== 'function') {
        throw new TypeError(`${caller} needs a redis:// URL or a node-redis client`);
      }
      return new RedisConnection(urlOrClient, false, undefined, options, events);
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
    const { connectTimeoutMs, reconnectAttempts } = options;
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
    return new RedisConnection(client, true, url, options, events);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Removes the URL's password (and the secrets of the environment) from `text`. */
  redact(text: string): string {
    return this.redactor.text(text);
  }

  /**
   * Resolves once the client is ready, connecting if this connection owns it; rejects at once
   * while Redis is known to be down, after `disconnect()`, or for an injected client that is not
   * connected.
   */
  async ready(signal: AbortSignal): Promise<void> {
    const client = this.client;
    if (client.isReady) return;
    if (this.closed) throw this.unavailable(`${this.events.subject} was disconnected`);
    if (!this.ownsClient) throw this.unavailable('the injected client is not connected');
    if (!this.connecting) {
      // Open but not ready: node-redis is reconnecting by itself after a lost connection.
      if (client.isOpen) throw this.unavailable('the connection was lost; reconnecting');
      const failure = this.lastConnectFailure;
      if (failure && Date.now() - failure.at < this.options.retryIntervalMs) {
        throw this.unavailable(`the last connection attempt failed (${failure.reason})`);
      }
      this.connecting = this.connect();
    }
    if (!(await raceAbort(this.connecting, signal))) {
      throw this.unavailable(`cannot connect (${this.lastConnectFailure?.reason ?? 'unknown error'})`);
    }
  }

  /**
   * Closes the connection this object opened (pending commands get `operationTimeoutMs` to
   * finish, then the socket is dropped) and makes later calls fail fast. An injected client is
   * left open. Idempotent.
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
        await withTimeout(() => client.close(), this.options.operationTimeoutMs, undefined, 'Redis close');
      } catch {
        if (client.isOpen) client.destroy();
      }
    }
    // Late socket errors of the closing connection still need a listener, so it stays attached.
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
    return new PTCError(this.events.errorCode, this.redact(`${this.where} is unavailable: ${detail}`));
  }

  private reportClientError(error: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorWarningAt < this.options.errorWarningIntervalMs) {
      this.suppressedErrors += 1;
      return;
    }
    const suppressed = this.suppressedErrors > 0 ? ` (${this.suppressedErrors} more since the last report)` : '';
    this.suppressedErrors = 0;
    this.lastErrorWarningAt = now;
    this.events.onError(this.redact(`${this.where}: ${describeCacheError(error)}${suppressed}`));
  }
}
