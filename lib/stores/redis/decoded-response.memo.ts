import { LRUCache } from 'lru-cache';
import type { Envelope } from '../../envelope/envelope.js';

/** Decoded HTTP responses kept for re-reads: at most this many... */
const MAX_RESPONSES = 1_000;
/** ...and at most this many bytes (stored bytes plus 2 bytes per character of the body). */
const MAX_TOTAL_BYTES = 8 * 1024 * 1024;
/** Larger responses are decoded on every read: parsing dominates less, memory would more. */
const MAX_RESPONSE_BYTES = 64 * 1024;

interface Memo {
  readonly bytes: Buffer;
  readonly envelope: Envelope;
}

/**
 * Stored HTTP responses decoded lately, with the bytes they were decoded from: a hit on a hot
 * response re-reads it from Redis (so it is never stale) but decodes it only when its bytes
 * changed. Only immutable entries (a string body, frozen metadata) are kept, since every
 * reader gets the same object.
 */
export class DecodedResponseMemo {
  private readonly memos = new LRUCache<string, Memo>({
    max: MAX_RESPONSES,
    maxSize: MAX_TOTAL_BYTES,
    sizeCalculation: (memo) => memo.bytes.length + 2 * ((memo.envelope.value as string | null)?.length ?? 0) + 1,
  });

  /** The envelope decoded before from these very bytes under `full`, if kept (a memcmp instead of a decode). */
  recall(full: string, bytes: Buffer): Envelope | undefined {
    const memo = this.memos.get(full);
    return memo !== undefined && memo.bytes.equals(bytes) ? memo.envelope : undefined;
  }

  /** Keeps `envelope`, decoded from `bytes`, if it is a response worth keeping; it is then frozen. */
  keep(full: string, bytes: Buffer, envelope: Envelope): void {
    if (envelope.http === undefined || (typeof envelope.value !== 'string' && envelope.value !== null) || bytes.length > MAX_RESPONSE_BYTES) return;
    // A copy: the reply is a view into the client's read buffer, which it would keep alive.
    this.memos.set(full, { bytes: Buffer.from(bytes), envelope: freezeResponse(envelope) });
  }
}

/** Freezes a decoded HTTP response envelope (its value is a string or null already). */
function freezeResponse(envelope: Envelope): Envelope {
  const http = envelope.http;
  if (http !== undefined) {
    for (const header of http.headers) Object.freeze(header);
    Object.freeze(http.headers);
    Object.freeze(http);
  }
  if (envelope.tags !== undefined) Object.freeze(envelope.tags);
  return Object.freeze(envelope);
}
