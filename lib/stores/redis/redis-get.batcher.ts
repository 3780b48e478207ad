import type { Envelope } from '../../envelope/envelope.js';
import type { StorageKey } from '../../keys/storage-key.js';
import { withDeadline } from './redis-command.deadline.js';
import { COMMAND_TIMED_OUT } from './redis.failures.js';
import type { ReplySizer } from './reply-sizer.js';

/** Keys per read at most: a bound on one command, so one batch cannot hog the connection or Redis. */
const MAX_READ_KEYS = 256;
/** What a get resolves: an entry, a miss, or a miss that settles once an undecodable entry is deleted. */
export type GetReply = Envelope | undefined | Promise<undefined>;

/** A `get()` waiting for the next flush. */
interface PendingGet {
  readonly key: StorageKey;
  readonly resolve: (value: GetReply) => void;
  readonly reject: (err: unknown) => void;
}

/** Reads a batch of entries of one hash slot in one command: each one's bytes (null: a miss). */
export type ReadBatch = (keys: readonly StorageKey[]) => Promise<(Buffer | null)[]>;

/**
 * Coalesces a connected `RedisStore`'s gets: those issued until the next `setImmediate` (when
 * ioredis would send them anyway) go out as one read per hash slot (the store's read script,
 * which checks each entry against its scope's epoch and tag versions as it reads it), and each
 * reply is decoded synchronously. Concurrent gets then cost one command, one reply and one
 * promise in the client instead of one each: more than the decoding they all still need.
 */
export class RedisGetBatcher {
  /** Gets waiting for the next flush, by hash-tag group (one group on a standalone server). */
  private pendingGets: Map<string, PendingGet[]> | undefined;
  /** When the first of the pending gets was issued (`performance.now()`): their deadline counts from it. */
  private pendingSince = 0;

  constructor(
    private readonly read: ReadBatch,
    /** One read per scope on a Cluster (a scope is one slot); one group on a standalone server. */
    private readonly groupByScope: boolean,
    /** Turns one reply (the stored bytes, or null) into what the get resolves; may throw. */
    private readonly decodeReply: (key: StorageKey, bytes: Buffer | null | undefined) => GetReply,
    /** The error a get rejects with when its read failed. */
    private readonly failure: (key: StorageKey, err: unknown) => unknown,
    /** Milliseconds from a get's issue to its settling at the latest (the store's `commandTimeout`). */
    private readonly timeoutMs: number,
    /** Keys per read by reply size, learned from every read of the batcher (store-wide). */
    private readonly sizer: ReplySizer,
  ) {}

  /** Queues a get for the next flush. */
  get(key: StorageKey): Promise<Envelope | undefined> {
    return new Promise((resolve, reject) => {
      let batches = this.pendingGets;
      if (batches === undefined) {
        batches = this.pendingGets = new Map();
        this.pendingSince = performance.now();
        // The same moment ioredis's auto-pipelining would send a GET (it waits for setImmediate
        // too), so batching adds no latency; the read itself is sent at once (see RedisScripts).
        setImmediate(this.flush);
      }
      // All keys of a scope share one hash tag, so one Cluster slot.
      const group = this.groupByScope ? key.scope.id : '';
      const batch = batches.get(group);
      if (batch === undefined) batches.set(group, [{ key, resolve, reject }]);
      else batch.push({ key, resolve, reject });
    });
  }

  /** Sends the gets queued since the last flush, at most `MAX_READ_KEYS` keys per read, fewer for large values (`ReplySizer`). */
  readonly flush = (): void => {
    const batches = this.pendingGets;
    this.pendingGets = undefined;
    if (batches === undefined) return;
    const size = this.sizer.keysPerRead(MAX_READ_KEYS);
    // Every get of these batches was issued at `pendingSince` or later: none waits past its timeout.
    const leftMs = Math.max(0, this.timeoutMs - (performance.now() - this.pendingSince));
    for (const batch of batches.values()) {
      if (batch.length <= size) this.send(batch, leftMs);
      else for (let i = 0; i < batch.length; i += size) this.send(batch.slice(i, i + size), leftMs);
    }
  };

  private send(batch: readonly PendingGet[], leftMs: number): void {
    let reply: Promise<(Buffer | null)[]>;
    try {
      const keys = new Array<StorageKey>(batch.length);
      for (let i = 0; i < batch.length; i++) keys[i] = batch[i]!.key;
      reply = withDeadline(this.read(keys), leftMs, timedOut);
    } catch (err) {
      for (const get of batch) get.reject(this.failure(get.key, err));
      return;
    }
    reply.then(
      (values) => {
        this.sizer.learn(values);
        for (let i = 0; i < batch.length; i++) {
          const get = batch[i]!;
          try {
            get.resolve(this.decodeReply(get.key, values[i]));
          } catch (err) {
            get.reject(err);
          }
        }
      },
      (err: unknown) => {
        for (const get of batch) get.reject(this.failure(get.key, err));
      },
    );
  }
}

function timedOut(): Error {
  return new Error(COMMAND_TIMED_OUT);
}
