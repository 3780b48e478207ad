import { setTimeout as sleep } from 'node:timers/promises';
import { newStamp, type Envelope } from '../envelope/envelope.js';
import { storageKey, type StorageKey } from '../keys/storage-key.js';
import { READ_FAILED, type ScopeAccess } from './scope-access.js';

/**
 * The cross-process stampede lock of the compute engine: a short lock in the store (Redis `SET
 * NX PX` with a token), held by the process that computes a key while the others wait for its
 * entry. Stores without locks (memory) compute without one.
 */

/** Another process holds the lock of the key. */
export const LOCK_BUSY: unique symbol = Symbol('lock busy');

export interface HeldLock {
  readonly key: StorageKey;
  readonly token: string;
}

/** Takes the lock of `k` if the store has locks: the held lock, `LOCK_BUSY`, or `undefined` (no lock: compute). */
export async function tryLock(access: ScopeAccess, key: string, ttlMs: number): Promise<HeldLock | typeof LOCK_BUSY | undefined> {
  const lockKey = storageKey(access.scope, 'lock', key);
  const token = newStamp();
  try {
    const held = await access.withStore(async (store) => (store.acquireLock === undefined ? undefined : store.acquireLock(lockKey, token, ttlMs)));
    if (held === undefined) return undefined;
    return held ? { key: lockKey, token } : LOCK_BUSY;
  } catch (err) {
    // No lock service now: compute without one (fail open), like a miss.
    access.fail('acquireLock', lockKey, err);
    return undefined;
  }
}

export function unlock(access: ScopeAccess, lock: HeldLock): void {
  access
    .withStore(async (store) => store.releaseLock?.(lock.key, lock.token))
    .catch((err: unknown) => {
      // The lock expires by itself; a failed release only delays the next computation.
      access.fail('releaseLock', lock.key, err);
    });
}

/** Polls for a fresh entry written by the lock holder, for up to `maxMs` of real time. */
export async function waitForEntry(access: ScopeAccess, k: StorageKey, maxMs: number): Promise<Envelope | undefined> {
  const deadline = performance.now() + maxMs;
  let delay = 5;
  while (performance.now() < deadline) {
    await sleep(Math.min(delay, Math.max(1, deadline - performance.now())));
    const env = await access.read(k);
    if (env === READ_FAILED) return undefined; // the store went away: compute
    if (env !== undefined && access.isFresh(env)) return env;
    delay = Math.min(delay * 2, 100);
  }
  return undefined;
}
