import type { Envelope } from '../../envelope/envelope.js';
import { CacheOperationError } from '../../errors/cache.errors.js';
import { keyHash, type StorageKey } from '../../keys/storage-key.js';
import type { CacheStore } from '../cache-store.interface.js';
import type { BusPublisher } from './bus-publisher.js';
import type { L1Mirror } from './l1-mirror.js';

/** What the bulk operations of a tiered store work on. */
export interface TieredBulkParts {
  readonly l1: L1Mirror;
  readonly l2: CacheStore;
  readonly publisher: BusPublisher;
  /** Counts a failed call and passes its error on (`TieredStore.failed`). */
  readonly failed: (err: unknown) => unknown;
}

/**
 * The bulk operations of `TieredStore`, with its rules: what L1 holds is served from L1, the rest
 * is one L2 bulk read (one MGET per slot on Redis) whose answers fill L1 unless a change overtook
 * them (tiered/l1-fills.ts); removals go to L2 (whose script publishes each on the bus) and are
 * applied to L1 even when L2 fails, as `delete` does.
 */
export async function tieredGetMany(parts: TieredBulkParts, keys: readonly StorageKey[]): Promise<Array<Envelope | undefined>> {
  const { l1, l2 } = parts;
  const out = keys.map((key) => l1.tier.getSync(key));
  const missing: number[] = [];
  for (let i = 0; i < out.length; i++) if (out[i] === undefined) missing.push(i);
  if (missing.length === 0) return out;
  const missKeys = missing.map((i) => keys[i]!);
  const fills = missKeys.map((key) => l1.start(key));
  let found: Array<Envelope | undefined>;
  try {
    found = l2.getMany === undefined ? await Promise.all(missKeys.map((key) => l2.get(key))) : await l2.getMany(missKeys);
  } catch (err) {
    for (const fill of fills) l1.end(fill);
    throw parts.failed(err);
  }
  for (let j = 0; j < missing.length; j++) {
    const env = found[j];
    if (env === undefined) l1.end(fills[j]!);
    else l1.filled(fills[j]!, env);
    out[missing[j]!] = env;
  }
  return out;
}

export async function tieredDeleteMany(parts: TieredBulkParts, keys: readonly StorageKey[]): Promise<number> {
  const { l1, l2 } = parts;
  let deleted: number;
  try {
    deleted = l2.deleteMany === undefined ? (await Promise.all(keys.map((key) => l2.delete(key)))).filter(Boolean).length : await l2.deleteMany(keys);
  } catch (err) {
    for (const key of keys) l1.remove(key);
    throw parts.failed(err);
  }
  for (const key of keys) l1.remove(key);
  await Promise.all(keys.map((key) => parts.publisher.publish({ op: 'key', key })));
  return deleted;
}

/** L2's atomic pull (L2 decides who gets the entry); L1's copy goes either way. */
export async function tieredPull(parts: TieredBulkParts, key: StorageKey): Promise<Envelope | undefined> {
  const { l1, l2 } = parts;
  let env: Envelope | undefined;
  try {
    if (l2.pull === undefined) throw new CacheOperationError('pull (L2 has no atomic pull)', keyHash(key));
    env = await l2.pull(key);
  } catch (err) {
    l1.remove(key);
    throw parts.failed(err);
  }
  l1.remove(key);
  await parts.publisher.publish({ op: 'key', key });
  return env;
}
