/**
 * How a failed ioredis call is classified and shown. Three classes matter to the cache:
 * - the server could not be reached (`isConnectionFailure`) or gave no reply in time
 *   (`isTimeout`): an outage, which counts towards opening the circuit;
 * - the server is full (`isOutOfMemory`): writes are refused, reads still work, so no circuit;
 * - any other error reply (a script error, a wrong type): the server works, the call did not.
 */

/** The message of ioredis's `commandTimeout` and of the store's own deadline (redis-command.deadline.ts). */
export const COMMAND_TIMED_OUT = 'Command timed out';

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
  if (e?.name === 'ReplyError' || message.includes(COMMAND_TIMED_OUT)) return false;
  if (typeof e?.code === 'string' && CONNECTION_CODES.has(e.code)) return true;
  if (e?.name === 'MaxRetriesPerRequestError' || e?.name === 'ClusterAllFailedError' || CONNECTION_MESSAGE_RE.test(message)) return true;
  return clientStatus !== 'ready';
}

/** Whether `err` is a command that got no reply in time (ioredis's `commandTimeout` or the store's deadline). */
export function isTimeout(err: unknown): boolean {
  const message = (err as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message.includes(COMMAND_TIMED_OUT);
}

/**
 * Whether `err` is Redis refusing a write for memory: `-OOM command not allowed when used memory
 * > 'maxmemory'` (also from inside a script, where Redis keeps the OOM prefix).
 */
export function isOutOfMemory(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown } | null;
  return e?.name === 'ReplyError' && typeof e.message === 'string' && e.message.startsWith('OOM ');
}

/** An error's message for a log line or a health detail, cut to a bounded length. */
export function errorText(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.slice(0, 200);
}
