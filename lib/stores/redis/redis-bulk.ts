import type { Envelope } from '../../envelope/envelope.js';
import type { StorageKey } from '../../keys/storage-key.js';
import type { RedisCallRunner } from './redis-call.runner.js';
import type { RedisEntryDecoder } from './redis-entry.decoder.js';
import type { RedisEntryReader } from './redis-entry.reader.js';
import type { RedisKeyNames } from './redis-key.names.js';
import type { RedisScripts } from './redis.scripts.js';

/**
 * Keys per command of a bulk call at most. One tenant's `getMany` of up to this many keys is one
 * MGET: the caller asked for them together. (Single gets are batched by at most 256 and by reply
 * size, redis-get.batcher.ts, because there each get waits for the others of its batch.)
 */
export const MAX_BULK_KEYS = 1_000;

/**
 * The bulk operations of `RedisStore`: `getMany` (one MGET snapshot per hash slot, checked like
 * every read: redis-entry.reader.ts), `deleteMany` (one script per slot) and `pull` (one script:
 * read and delete atomically). Every key of a scope is in its `{scope}` slot, so one tenant's keys
 * go in one command per `MAX_BULK_KEYS`.
 */
export class RedisBulk {
  constructor(
    private readonly calls: RedisCallRunner,
    private readonly reader: RedisEntryReader,
    private readonly decoder: RedisEntryDecoder,
    private readonly scripts: RedisScripts,
    private readonly names: RedisKeyNames,
  ) {}

  async getMany(keys: readonly StorageKey[]): Promise<Array<Envelope | undefined>> {
    const out = new Array<Envelope | undefined>(keys.length);
    await Promise.all(
      slotChunks(keys).map(async (chunk) => {
        const chunkKeys = chunk.map((i) => keys[i]!);
        const bytes = await this.calls.run('getMany', chunkKeys[0], () => this.reader.read(chunkKeys));
        await Promise.all(
          chunk.map(async (at, j) => {
            out[at] = await this.decoder.reply(chunkKeys[j]!, bytes[j]);
          }),
        );
      }),
    );
    return out;
  }

  async deleteMany(keys: readonly StorageKey[]): Promise<number> {
    const counts = await Promise.all(
      slotChunks(keys).map((chunk) => {
        const chunkKeys = chunk.map((i) => keys[i]!);
        return this.calls.run('deleteMany', chunkKeys[0], () => this.scripts.deleteEntries(chunkKeys, this.names.meta(chunkKeys[0]!.scope)));
      }),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async pull(key: StorageKey): Promise<Envelope | undefined> {
    const bytes = await this.calls.run('pull', key, () => this.scripts.pull(key, this.names.meta(key.scope)));
    return this.decoder.reply(key, bytes);
  }
}

/** Positions of `keys` by scope (one hash slot each), in chunks of at most `MAX_BULK_KEYS`. */
function slotChunks(keys: readonly StorageKey[]): number[][] {
  const byScope = new Map<string, number[]>();
  for (let i = 0; i < keys.length; i++) {
    const id = `${keys[i]!.scope.namespace}\u0000${keys[i]!.scope.id}`;
    const group = byScope.get(id);
    if (group === undefined) byScope.set(id, [i]);
    else group.push(i);
  }
  const chunks: number[][] = [];
  for (const group of byScope.values()) for (let i = 0; i < group.length; i += MAX_BULK_KEYS) chunks.push(group.slice(i, i + MAX_BULK_KEYS));
  return chunks;
}
