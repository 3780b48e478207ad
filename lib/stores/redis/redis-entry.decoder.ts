import { isUntrusted } from './redis-entry.reader.js';
import type { Codec } from '../../envelope/codecs/codec.interface.js';
import type { DecodeLimits } from '../../envelope/decode-limits.js';
import type { Envelope } from '../../envelope/envelope.js';
import { decodeEntry } from '../../envelope/wire.js';
import { DecodeError } from '../../errors/cache.errors.js';
import type { StorageKey } from '../../keys/storage-key.js';
import type { StoreObserver } from '../cache-store.interface.js';
import { DecodedResponseMemo } from './decoded-response.memo.js';
import type { GetReply } from './redis-get.batcher.js';
import { errorText } from './redis.failures.js';


const NOT_SERVED: Promise<undefined> = Promise.resolve(undefined);
/**
 * Turns the bytes a Redis read returned into what a get resolves. Bytes that fail to decode
 * (garbage, another tenant's entry, an older wire version) are a miss: they are deleted (only if
 * the key still holds them, so a concurrent good write is not lost), counted and reported to the
 * observer.
 */
export class RedisEntryDecoder {
  /** Entries that failed to decode (`stats().decodeErrors`). */
  decodeErrors = 0;
  private readonly memo = new DecodedResponseMemo();

  constructor(
    private readonly codecs: ReadonlyMap<string, Codec>,
    private readonly limits: DecodeLimits,
    private readonly observer: StoreObserver | undefined,
    /** Deletes `key` if it still holds `bytes`; never rejects (a failure is the caller's to report). */
    private readonly dropIfUnchanged: (key: StorageKey, bytes: Buffer) => Promise<void>,
  ) {}

  reply(key: StorageKey, bytes: Buffer | null | undefined): GetReply {
    if (bytes === null || bytes === undefined) return undefined;
    return this.decodeOrDrop(key, bytes);
  }

  /**
   * The decoded entry, synchronously; or, for bytes that fail to decode, a promise of `undefined`
   * that settles once the entry is deleted, so a caller that saw the miss also sees the delete done.
   */
  decodeOrDrop(key: StorageKey, bytes: Buffer): Envelope | Promise<undefined> {
    const trusted = !isUntrusted(bytes);
    const remembered = trusted ? this.memo.recall(key.full, bytes) : undefined;
    if (remembered !== undefined) return remembered;
    let envelope: Envelope;
    try {
      envelope = decodeEntry(bytes, this.codecs, key.scope.id, this.limits);
    } catch (err) {
      return this.drop(key, bytes, err);
    }
    // An entry under a lost epoch: well-formed, but not to be served (a miss, left to expire).
    if (!trusted) return NOT_SERVED;
    this.memo.keep(key.full, bytes, envelope);
    return envelope;
  }

  private async drop(key: StorageKey, bytes: Buffer, err: unknown): Promise<undefined> {
    const error = err instanceof DecodeError ? err : new DecodeError(errorText(err), { cause: err });
    this.decodeErrors++;
    try {
      this.observer?.decodeFailed?.(key, error);
    } catch {
      // Observers must not throw; if one does, the read still is a miss.
    }
    await this.dropIfUnchanged(key, bytes);
    return undefined;
  }
}
