/**
 * How a failed ioredis call is classified and shown. A connection failure (the server is
 * unreachable) becomes `CacheConnectionError`; anything else (a timeout, a script error) is an
 * operation failure, since the server did answer or may still.
 */

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const CONNECTION_MESSAGE_RE =
  /Connection is closed|Stream isn't writeable|enableOfflineQueue|isn't ready|None of startup nodes|Failed to refresh slots|MaxRetriesPerRequest|ECONNREFUSED|ECONNRESET|EPIPE|connect ETIMEDOUT/;

/**
 * Whether `err` means the server could not be reached. Errors that say nothing either way count
 * as connection failures while the client is not `ready` (`clientStatus`).
 */
export function isConnectionFailure(err: unknown, clientStatus: string): boolean {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  if (e?.name === 'ReplyError' || message.includes('Command timed out')) return false;
  if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  if (e?.name === 'MaxRetriesPerRequestError' || e?.name === 'ClusterAllFailedError' || CONNECTION_MESSAGE_RE.test(message)) return true;
  return clientStatus !== 'ready';
}

/** An error's message for a log line or a health detail, cut to a bounded length. */
export function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.slice(0, 200);
}
