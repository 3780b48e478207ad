import { afterEach, describe, expect, it } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { KeyScope, storageKey, type StorageKey } from '../../lib/keys/storage-key.js';
import { MAX_COMPUTATION_MS } from '../../lib/stores/computation-bound.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { ManualClock } from '../helpers/manual-clock.js';

/**
 * O(1) invalidation on the memory store at 100,000 entries: a tag invalidation and a clear touch
 * no entry (they are timed, and the store still holds every entry right after); the entries then
 * read as misses, and the reads (tags) or the background reclaim in bounded batches (clear) free
 * their bytes. Before, both deleted every entry inside the call.
 */

const N = 100_000;
const stores: MemoryStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

function makeStore(clock = new ManualClock()): MemoryStore {
  const store = new MemoryStore({ clock, maxEntries: 2 * N, maxBytes: 2 ** 34, maxTenantShare: 1, sweepInterval: 0 });
  stores.push(store);
  return store;
}

function envelope(key: StorageKey, value: unknown, tags?: string[]): Envelope {
  return { value, createdAt: Date.now(), expiresAt: 0, stamp: newStamp(), scope: key.scope.id, ...(tags ? { tags } : {}) };
}

const keysOf = (scope: KeyScope, n: number, prefix = 'k'): StorageKey[] => Array.from({ length: n }, (_, i) => storageKey(scope, 'entry', `${prefix}${i}`));

async function fill(store: MemoryStore, keys: readonly StorageKey[], tags?: string[]): Promise<void> {
  for (const [i, key] of keys.entries()) await store.set(key, envelope(key, i, tags), 0);
}

const hits = (store: MemoryStore, keys: readonly StorageKey[]): number => keys.filter((key) => store.getSync(key) !== undefined).length;

/** How long `op` takes, in ms. */
async function timed(op: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await op();
  return performance.now() - started;
}

describe(`MemoryStore: O(1) invalidation at ${N.toLocaleString('en-US')} entries`, () => {
  it(`a tag on ${N.toLocaleString('en-US')} entries is invalidated without touching them; every one then misses (and is reclaimed by the read), others hit`, async () => {
    const store = makeStore();
    const a = KeyScope.of('mscale', 'acme');
    const hot = keysOf(a, N);
    const cold = keysOf(a, 1_000, 'cold');
    const otherTenant = keysOf(KeyScope.of('mscale', 'other'), 1_000);
    await fill(store, hot, ['hot', 'all']);
    await fill(store, cold, ['cold', 'all']);
    await fill(store, otherTenant, ['hot']);
    const { entries, bytes } = store.stats();

    const single = storageKey(a, 'entry', 'single');
    await store.set(single, envelope(single, 1, ['single']), 0);
    const one = await timed(() => store.invalidateTags([storageKey(a, 'tag', 'single')]));
    const many = await timed(() => store.invalidateTags([storageKey(a, 'tag', 'hot')]));
    console.log(`[scale] memory: invalidateTags of a tag on ${N.toLocaleString('en-US')} entries ${many.toFixed(3)} ms (on 1 entry: ${one.toFixed(3)} ms)`);
    // Nothing was deleted or walked: every entry is still held.
    expect(store.stats()).toMatchObject({ entries: entries! + 1 });
    expect(many).toBeLessThan(20);

    expect(hits(store, hot)).toBe(0);
    expect(hits(store, cold)).toBe(1_000);
    expect(hits(store, otherTenant)).toBe(1_000);
    // Each read that found an entry invalidated deleted it.
    expect(store.stats().entries).toBe(entries! + 1 - N); // the single entry is invalidated too, but not read yet
    expect(store.stats().bytes).toBeLessThan(bytes! / 10);
  });

  it(`clearScope of a tenant with ${N.toLocaleString('en-US')} entries is O(1); the entries miss at once and are reclaimed in the background, ${(1_000).toLocaleString('en-US')} per event-loop turn, freeing their bytes`, async () => {
    const store = makeStore();
    const a = KeyScope.of('mscale', 'acme');
    const tenant = keysOf(a, N);
    const others = keysOf(KeyScope.of('mscale', 'acme:x'), 1_000);
    await fill(store, tenant);
    await fill(store, others);
    const before = store.stats();
    const otherBytes = store.scopeBytes(KeyScope.of('mscale', 'acme:x'));

    const empty = await timed(() => store.clearScope(KeyScope.of('mscale', 'empty')));
    const ms = await timed(() => store.clearScope(a));
    console.log(`[scale] memory: clearScope of a tenant with ${N.toLocaleString('en-US')} entries ${ms.toFixed(3)} ms (of a tenant with none: ${empty.toFixed(3)} ms)`);
    expect(ms).toBeLessThan(20);
    expect(store.stats().entries).toBe(before.entries); // not walked: retired whole
    expect(store.scopeSize(a)).toBe(0);
    expect(store.getSync(tenant[N - 1]!)).toBeUndefined();
    expect(store.getSync(tenant[0]!)).toBeUndefined();
    expect(hits(store, others)).toBe(1_000);

    // One event-loop turn: one bounded batch.
    const held = store.stats().entries!;
    await new Promise((resolve) => setImmediate(resolve));
    expect(held - store.stats().entries!).toBe(1_000);
    let turns = 1;
    while (store.stats().entries! > 1_000 && turns < 1_000) {
      await new Promise((resolve) => setImmediate(resolve));
      turns++;
    }
    console.log(`[scale] memory: the cleared tenant's ${N.toLocaleString('en-US')} entries reclaimed in ${turns} event-loop turns; bytes ${before.bytes!.toLocaleString('en-US')} -> ${store.stats().bytes!.toLocaleString('en-US')}`);
    expect(store.stats()).toMatchObject({ entries: 1_000, bytes: otherBytes });
    expect(hits(store, others)).toBe(1_000);
  });

  it('a write whose basis is older than the computation bound is not stored, even with nothing invalidated since', async () => {
    const clock = new ManualClock();
    const store = makeStore(clock);
    const scope = KeyScope.of('mscale', 'acme');
    const key = storageKey(scope, 'entry', 'slow');
    const basis = store.basis(scope);
    clock.advance(MAX_COMPUTATION_MS);
    await store.set(key, envelope(key, 'just in time'), 0, basis);
    expect(store.getSync(key)?.value).toBe('just in time');
    await store.delete(key);
    clock.advance(1);
    await store.set(key, envelope(key, 'too late'), 0, basis);
    expect(store.getSync(key)).toBeUndefined();
    // A basis of another memory store is no basis to trust: not applied either.
    expect(await store.set(key, envelope(key, 'foreign'), 0, makeStore(clock).basis(scope))).toBe(false);
    expect(store.getSync(key)).toBeUndefined();
  });
});
