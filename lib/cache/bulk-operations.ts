import { newStamp, retentionMs, type Envelope } from '../envelope/envelope.js';
import { CacheUnsupportedError } from '../errors/cache.errors.js';
import type { StorageKey } from '../keys/storage-key.js';
import type { CacheStore } from '../stores/cache-store.interface.js';
import type { InvalidationRetries } from './invalidation.js';
import type { ScopeAccess } from './scope-access.js';


/**
 * The bulk and read-modify operations of the scoped cache (`getMany`, `deleteMany`, `pull`,
 * `expire`), on the same `ScopeAccess` as every other operation: the same keys, the same
 * failure policy and the same pending-invalidation checks.
 */

/** Each key's fresh entry, in order (hits and misses counted per key); fails open: a store failure reads as misses. */
export async function readMany(access: ScopeAccess, keys: readonly StorageKey[]): Promise<Array<Envelope | undefined>> {
  if (keys.length === 0) return [];
  let found: Array<Envelope | undefined>;
  try {
    found = await access.withStore((store) => (store.getMany === undefined ? Promise.all(keys.map((k) => store.get(k))) : store.getMany(keys)));
  } catch (err) {
    access.fail('getMany', keys[0], err);
    found = [];
  }
  return keys.map((k, i) => {
    const env = found[i];
    if (env !== undefined && access.isFresh(env) && !access.invalidated(k, env)) {
      access.countHit();
      return env;
    }
    access.count('misses');
    return undefined;
  });
}

/**
 * Deletes `keys` in one store call where the store can (`deleteMany`), each key an invalidation
 * of its own: if the call fails, every key is kept pending and retried until applied (the reads
 * of this instance serve none of them meanwhile). Resolves how many held a readable entry.
 */
export async function deleteMany(access: ScopeAccess, invalidations: InvalidationRetries, keys: readonly StorageKey[]): Promise<number> {
  const unique = [...new Map(keys.map((k) => [k.full, k])).values()];
  if (unique.length === 0) return 0;
  const batch = access.write('deleteMany', unique[0], (store) => deleteAll(store, unique));
  // Rejections are each key's own (below); this one is only awaited for the count.
  batch.catch(() => undefined);
  await Promise.all(unique.map((k) => invalidations.run(access, { kind: 'delete', key: k }, () => batch)));
  return batch;
}

function deleteAll(store: CacheStore, keys: readonly StorageKey[]): Promise<number> {
  if (store.deleteMany !== undefined) return store.deleteMany(keys);
  return Promise.all(keys.map((k) => store.delete(k))).then((deleted) => deleted.filter(Boolean).length);
}

/**
 * Reads and deletes `k` atomically (the store's `pull`): its fresh entry to exactly one of
 * concurrent callers. An entry past its TTL, or one a pending invalidation covers, is deleted
 * all the same and reads as a miss. A failure rejects (nothing was taken); a store without `pull`
 * rejects with `CacheUnsupportedError`.
 */
export async function pullEntry(access: ScopeAccess, k: StorageKey): Promise<Envelope | undefined> {
  let refused: CacheUnsupportedError | undefined;
  const env = await access.write(
    'pull',
    k,
    (store) => {
      // An atomic read-and-delete cannot be built from get and delete: refuse rather than race.
      if (store.pull === undefined) throw (refused = new CacheUnsupportedError('pull', 'the store has no atomic pull()', 'implement CacheStore.pull in the store, or call get() then delete() where a race between callers is harmless'));
      return store.pull(k);
    },
    (err) => err === refused,
  );
  if (env !== undefined && access.isFresh(env) && !access.invalidated(k, env)) {
    access.countHit();
    return env;
  }
  access.count('misses');
  return undefined;
}

/**
 * Makes the entry of `k` expired now and keeps it for its grace, so `wrap` recomputes it and can
 * still serve it stale if that fails (stale-if-error). Without grace left, the entry is deleted.
 * A compare-and-set: a write in between wins (it is newer than the expiry). Resolves whether a
 * fresh entry was expired.
 */
export async function expireEntry(access: ScopeAccess, k: StorageKey): Promise<boolean> {
  return access.write('expire', k, async (store) => {
    const current = await store.get(k);
    if (current === undefined || access.invalidated(k, current)) return current !== undefined && store.delete(k).then(() => false);
    if (!access.isFresh(current)) return false;
    const now = access.now();
    if (current.staleUntil === undefined || current.staleUntil <= now) return store.delete(k);
    const expired: Envelope = { ...current, expiresAt: now, stamp: newStamp() };
    // Refused only when another write replaced the entry since it was read: that write is newer
    // than this expiry and wins (retrying, or failing here, would delete it after all).
    return store.compareAndSet(k, current.stamp, expired, retentionMs(expired, now));
  });
}
