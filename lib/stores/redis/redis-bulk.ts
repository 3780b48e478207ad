import type { Envelope } from '../../envelope/envelope.js';
import { DecodeError } from '../../errors/cache.errors.js';
import type { StorageKey } from '../../keys/storage-key.js';
import type { StoreGetOrSetResult } from '../cache-store.interface.js';
import type { RedisCallRunner } from './redis-call.runner.js';
import type { RedisEntryDecoder } from './redis-entry.decoder.js';
import type { RedisEntryReader } from './redis-entry.reader.js';
import type { RedisKeyNames } from './redis-key.names.js';
import type { RedisScripts } from './redis.scripts.js';
import { GenerationalMap } from '../../utils/generational-map.js';
import { ReplySizer } from './reply-sizer.js';

/**
 * Keys per command of a bulk call at most. A `getMany` reads fewer per command where the values
 * are large, so one reply stays near a MiB (`ReplySizer`): one tenant's large `getMany` does not
 * hold Redis while it writes out hundreds of MiB.
 */
export const MAX_BULK_KEYS = 1_000;

/**
 * Keys of the first read of a scope whose value sizes are not known yet (none read by a
 * `getMany` of this store): the rest of the call is cut by what it returned. Once per scope:
 * a probe that found nothing leaves the scope at `MAX_BULK_KEYS` until a value is read.
 */
export const PROBE_KEYS = 16;

/** Scopes whose value sizes are remembered (per generation; see `GenerationalMap`). */
const SIZED_SCOPES = 4_096;

/** Attempts of `getOrSet` and `compareAndSet` when the present entry turns out to be undecodable (it is deleted in between). */
const GET_OR_SET_ATTEMPTS = 3;

/**
 * The bulk and read-modify-write operations of `RedisStore`: `getMany` (MGETs per hash slot,
 * each one snapshot, checked like every read: redis-entry.reader.ts), `deleteMany` (one script per slot),
 * `pull` (one script: read and delete atomically), and `getOrSet` / `compareAndSet`, which drop an
 * undecodable present entry and try again. Every key of a scope is in its `{scope}` slot, so one
 * tenant's keys go in one command per `MAX_BULK_KEYS` (fewer for large values).
 */
export class RedisBulk {
  constructor(
    private readonly calls: RedisCallRunner,
    private readonly reader: RedisEntryReader,
    private readonly decoder: RedisEntryDecoder,
    private readonly scripts: RedisScripts,
    private readonly names: RedisKeyNames,
  ) {}

  /** The sizes of values read by `getMany`, per scope: one tenant's large values do not cut another's reads. */
  private readonly sizes = new GenerationalMap<string, ReplySizer>(SIZED_SCOPES);

  /**
   * Each scope's keys in reads of about a MiB of reply at most (`MAX_BULK_KEYS` keys at most),
   * sent at once; a scope whose sizes are not known yet is read `PROBE_KEYS` first, and the rest
   * cut by what they weighed.
   */
  async getMany(keys: readonly StorageKey[]): Promise<Array<Envelope | undefined>> {
    const out = new Array<Envelope | undefined>(keys.length);
    await Promise.all(
      [...byScope(keys)].map(async ([scope, positions]) => {
        let sizer = this.sizes.get(scope);
        if (sizer === undefined) this.sizes.set(scope, (sizer = new ReplySizer()));
        let from = 0;
        if (!sizer.knows && !sizer.probed && positions.length > PROBE_KEYS) {
          await this.readInto(keys, positions.slice(0, PROBE_KEYS), sizer, out);
          // A probe of misses only (a tenant not cached yet) says nothing of sizes: not again, or
          // every getMany of an empty tenant would pay a round trip more.
          sizer.probed = true;
          from = PROBE_KEYS;
        }
        const size = sizer.keysPerRead(MAX_BULK_KEYS);
        const reads: Promise<void>[] = [];
        for (let i = from; i < positions.length; i += size) reads.push(this.readInto(keys, positions.slice(i, i + size), sizer, out));
        await Promise.all(reads);
      }),
    );
    return out;
  }

  /** One read of the keys at `positions` (one scope), decoded into `out`; `sizer` learns from it. */
  private async readInto(keys: readonly StorageKey[], positions: readonly number[], sizer: ReplySizer, out: Array<Envelope | undefined>): Promise<void> {
    const chunkKeys = positions.map((i) => keys[i]!);
    const bytes = await this.calls.run('getMany', chunkKeys[0], () => this.reader.read(chunkKeys));
    sizer.learn(bytes);
    await Promise.all(
      positions.map(async (at, j) => {
        out[at] = await this.decoder.reply(chunkKeys[j]!, bytes[j]);
      }),
    );
  }

  async deleteMany(keys: readonly StorageKey[]): Promise<number> {
    const counts = await Promise.all(
      chunksOf(byScope(keys), MAX_BULK_KEYS).map((chunk) => {
        const chunkKeys = chunk.map((i) => keys[i]!);
        return this.calls.run('deleteMany', chunkKeys[0], () => this.scripts.deleteEntries(chunkKeys, this.names.meta(chunkKeys[0]!.scope)));
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  /** Writes `bytes` (the encoded `envelope`) unless an entry a read would return is present: that one wins. */
  async getOrSet(key: StorageKey, envelope: Envelope, bytes: Buffer, ttl: number): Promise<StoreGetOrSetResult> {
    const meta = this.names.meta(key.scope);
    for (let attempt = 0; attempt < GET_OR_SET_ATTEMPTS; attempt++) {
      const existing = await this.calls.run('getOrSet', key, () => this.scripts.getOrSet(key, bytes, ttl, meta));
      if (existing === null || existing === undefined) return { envelope, set: true };
      // Present by its header but undecodable: it has been deleted now, so the next attempt writes.
      const current = await this.decoder.decodeOrDrop(key, existing);
      if (current !== undefined) return { envelope: current, set: false };
    }
    throw this.calls.fail('getOrSet', key, new DecodeError(`the present entry stayed undecodable over ${GET_OR_SET_ATTEMPTS} attempts`));
  }

  /** Writes `bytes` only if the present entry has `expectedStamp` (null: if none is present); resolves whether it wrote. */
  async compareAndSet(key: StorageKey, expectedStamp: string | null, bytes: Buffer, ttl: number): Promise<boolean> {
    const meta = this.names.meta(key.scope);
    // '' stands for "no entry expected": a real stamp is never empty.
    const expected = expectedStamp ?? '';
    for (let attempt = 0; attempt < GET_OR_SET_ATTEMPTS; attempt++) {
      const wrote = await this.calls.run('compareAndSet', key, () => this.scripts.compareAndSet(key, bytes, ttl, expected, meta));
      if (wrote || expectedStamp !== null) return wrote;
      // "No entry present" lost to an entry that may be read; if its payload does not decode
      // (another tenant's entry, corrupt bytes) it is no entry: drop it and try again.
      const [current] = await this.calls.run('compareAndSet', key, () => this.reader.read([key]));
      if (current !== null && current !== undefined && (await this.decoder.decodeOrDrop(key, current)) !== undefined) return false;
    }
    return false;
  }

  async pull(key: StorageKey): Promise<Envelope | undefined> {
    const bytes = await this.calls.run('pull', key, () => this.scripts.pull(key, this.names.meta(key.scope)));
    return this.decoder.reply(key, bytes);
  }
}

/** Positions of `keys` by scope (one hash slot each), in order. */
function byScope(keys: readonly StorageKey[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (let i = 0; i < keys.length; i++) {
    const id = `${keys[i]!.scope.namespace}\u0000${keys[i]!.scope.id}`;
    const group = groups.get(id);
    if (group === undefined) groups.set(id, [i]);
    else group.push(i);
  }
  return groups;
}

/** Each group in chunks of at most `size`. */
function chunksOf(groups: Map<string, number[]>, size: number): number[][] {
  const chunks: number[][] = [];
  for (const group of groups.values()) for (let i = 0; i < group.length; i += size) chunks.push(group.slice(i, i + size));
  return chunks;
}
