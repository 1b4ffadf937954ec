import Anthropic from '@anthropic-ai/sdk';
import type { AnthropicCodeGeneratorOptions, ResolvedOptions } from './options.js';

/** The injected client, checked, or a new one from the options. */
export function resolveClient(options: AnthropicCodeGeneratorOptions, resolved: ResolvedOptions): Anthropic {
  if (options.client !== undefined) {
    if (options.apiKey !== undefined) throw new TypeError('apiKey cannot be combined with client: configure the client instead');
    if (options.baseURL !== undefined) throw new TypeError('baseURL cannot be combined with client: configure the client instead');
    if (!isMessagesClient(options.client)) throw new TypeError('client must be an Anthropic client (with messages.stream)');
    return options.client;
  }
  // No I/O here: the SDK resolves credentials lazily, on the first request.
  return new Anthropic({
    ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
    ...(options.baseURL !== undefined ? { baseURL: options.baseURL } : {}),
    ...(resolved.maxRetries !== undefined ? { maxRetries: resolved.maxRetries } : {}),
    ...(resolved.requestTimeoutMs !== undefined ? { timeout: resolved.requestTimeoutMs } : {}),
  });
}

/** The credentials in play, for the redactor: the given key and whatever the client holds. */
export function clientSecrets(options: AnthropicCodeGeneratorOptions, client: Anthropic): string[] {
  const secrets: string[] = [];
  if (options.apiKey) secrets.push(options.apiKey);
  const clientKey: unknown = (client as { apiKey?: unknown }).apiKey;
  if (typeof clientKey === 'string' && clientKey) secrets.push(clientKey);
  const clientToken: unknown = (client as { authToken?: unknown }).authToken;
  if (typeof clientToken === 'string' && clientToken) secrets.push(clientToken);
  return secrets;
}

function isMessagesClient(value: unknown): value is Anthropic {
  const messages: unknown = value && typeof value === 'object' ? (value as { messages?: unknown }).messages : undefined;
  return !!messages && typeof (messages as { stream?: unknown }).stream === 'function';
}
