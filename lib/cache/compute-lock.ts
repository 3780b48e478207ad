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

/**
 * Waits for the lock holder's entry, polling, for up to `maxMs` of real time: the fresh entry
 * once it is there; the lock, taken here, if the holder released it without writing one (its
 * factory failed or skipped); nothing when time ran out or the store went away.
 */
export async function waitForEntry(access: ScopeAccess, k: StorageKey, key: string, maxMs: number, accept?: (entry: Envelope) => boolean): Promise<{ readonly entry?: Envelope; readonly lock?: HeldLock }> {
  const usable = (env: Envelope | undefined): env is Envelope => env !== undefined && access.isFresh(env) && (accept === undefined || accept(env));
  const deadline = performance.now() + maxMs;
  let delay = 5;
  while (performance.now() < deadline) {
    await sleep(Math.min(delay, Math.max(1, deadline - performance.now())));
    const env = await access.read(k);
    if (env === READ_FAILED) return {}; // the store went away: compute
    if (usable(env)) return { entry: env };
    const lock = await tryLock(access, key, maxMs);
    if (lock !== undefined && lock !== LOCK_BUSY) {
      // Taken just now: the holder may have written in between, so read once more.
      const again = await access.read(k);
      if (again !== READ_FAILED && usable(again)) {
        unlock(access, lock);
        return { entry: again };
      }
      return { lock };
    }
    if (lock === undefined) return {}; // no lock service now: compute
    delay = Math.min(delay * 2, 100);
  }
  return {};
}
