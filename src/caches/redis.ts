import { createKeyv, type RedisClientType } from '@keyv/redis';
import { rejectUnknownKeys } from '../internal/validate.js';
import { DEFAULT_CACHE_NAMESPACE, KeyvCache, type CacheWarning } from './keyv.js';
import { REDIS_CONNECTION_OPTION_NAMES, RedisConnection, resolveRedisConnectionOptions, type RedisConnectionOptions } from './redis-connection.js';

/** Every option name, to refuse a misspelt one (see rejectUnknownKeys). */
const CREATE_REDIS_CACHE_OPTION_NAMES = ['namespace', ...REDIS_CONNECTION_OPTION_NAMES, 'onWarning'] as const satisfies readonly (keyof RedisCacheOptions)[];

export type { CacheWarning, KeyvCacheOptions } from './keyv.js';
export type { RedisConnectionOptions } from './redis-connection.js';
export {
  createRedisCheckpointStore,
  RedisCheckpointStore,
  type CheckpointStoreWarning,
  type RedisCheckpointStoreOptions,
} from '../checkpoints/redis.js';

export interface RedisCacheOptions extends RedisConnectionOptions {
  /** Key prefix: entries are stored as `<namespace>::<cache key>`. @default 'ptc-agent' */
  namespace?: string;
  /** See `KeyvCacheOptions.onWarning`. The URL's password never appears in a warning. @default undefined */
  onWarning?: (warning: CacheWarning) => void;
}

/**
 * A `KeyvCache` on Redis that can never hang a run: the offline queue is off (commands fail at
 * once while disconnected), connects are bounded, reconnects are bounded and throttled, and every
 * call has its own timeout. It connects lazily, on the first call. Call `disconnect()` when done.
 */
export class RedisCache extends KeyvCache {
  /** The node-redis client, for callers who need raw access. */
  readonly client: RedisClientType;
  private readonly connection: RedisConnection;

  /** Use `createRedisCache`. @internal */
  constructor(
    parts: {
      /** Builds the connection; its errors are reported through this cache's `onWarning`. */
      connect: (onError: (message: string) => void) => RedisConnection;
      namespace: string;
      connectTimeoutMs: number;
      operationTimeoutMs: number;
      onWarning: ((warning: CacheWarning) => void) | undefined;
    },
  ) {
    // Built before `super` (which needs the client), reporting through `this` once it exists.
    let report: (message: string) => void = () => {};
    const connection = parts.connect((message) => report(message));
    const keyv = createKeyv(connection.client, {
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
    this.connection = connection;
    this.client = connection.client;
    report = (message) => this.warn({ code: 'CACHE_UNAVAILABLE', message });
  }

  /**
   * Closes the connection this cache opened (pending commands get `operationTimeoutMs` to finish)
   * and makes later calls fail fast. An injected client is left open. Idempotent.
   */
  disconnect(): Promise<void> {
    return this.connection.disconnect();
  }

  protected override ready(signal: AbortSignal): Promise<void> {
    return this.connection.ready(signal);
  }

  protected override redact(text: string): string {
    return this.connection.redact(text);
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
  const resolved = resolveRedisConnectionOptions(options);
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') {
    throw new TypeError('onWarning must be a function');
  }
  return new RedisCache({
    // Checks the URL or client (a TypeError, no I/O) and builds the hardened client.
    connect: (onError) => RedisConnection.open('createRedisCache', urlOrClient, resolved, { subject: 'the cache', errorCode: 'CACHE_FAILED', onError }),
    namespace,
    connectTimeoutMs: resolved.connectTimeoutMs,
    operationTimeoutMs: resolved.operationTimeoutMs,
    onWarning: options.onWarning,
  });
}
