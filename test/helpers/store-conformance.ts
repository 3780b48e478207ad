import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { newStamp, type Envelope } from '../../lib/envelope/envelope.js';
import { GLOBAL_SCOPE, KeyScope, storageKey, userKeyOf, type StorageKey, type TenantRef } from '../../lib/keys/storage-key.js';
import { CacheClosedError } from '../../lib/errors/cache.errors.js';
import type { CacheStore, StoreBasis } from '../../lib/stores/cache-store.interface.js';
import type { ManualClock } from './manual-clock.js';

export interface ConformanceContext {
  store: CacheStore;
  /** Present when the store's time can be moved (memory); absent when it follows real server time (Redis). */
  clock?: ManualClock;
  /** Removes every entry the tests wrote (each test also uses its own namespace). */
  flush(): Promise<void>;
  /** Closes the store and anything setup() opened; must tolerate an already closed store. */
  teardown(): Promise<void>;
}

/**
 * The semantics every `CacheStore` must share (see cache-store.interface.ts). `setup` is called
 * once for the suite and again by the tests that need a private instance (close); it must return
 * a fresh, open store each time. Tests never assume store internals: keys come from
 * `storageKey()`, each test has its own namespace, and time moves through `clock` when the
 * store has one, else through a few short real TTLs.
 */
export function describeStoreConformance(name: string, setup: () => Promise<ConformanceContext>): void {
  describe(`CacheStore conformance: ${name}`, () => {
    const runId = randomBytes(4).toString('hex');
    let testNo = 0;
    let ctx: ConformanceContext;
    let store: CacheStore;

    beforeAll(async () => {
      ctx = await setup();
      store = ctx.store;
    });
    afterEach(async () => {
      await ctx.flush();
    });
    afterAll(async () => {
      await ctx?.teardown();
    });

    /** A namespace no other test (or suite run) uses. */
    const freshNamespace = (): string => `conf-${runId}-${++testNo}`;
    const now = (): number => (ctx.clock ? ctx.clock.now() : Date.now());

    interface EnvOptions {
      /** Logical freshness from now, ms; 0 = never expires (the default). */
      freshMs?: number;
      /** Absolute logical expiry, overrides freshMs. */
      expiresAt?: number;
      tags?: string[];
    }
    const envelope = <T>(key: StorageKey, value: T, opts: EnvOptions = {}): Envelope<T> => {
      const t = now();
      const expiresAt = opts.expiresAt ?? (opts.freshMs ? t + opts.freshMs : 0);
      return { value, createdAt: t, expiresAt, stamp: newStamp(), scope: key.scope.id, ...(opts.tags ? { tags: opts.tags } : {}) };
    };

    /** Resolves once `get(key)` misses, polling a bounded number of times (stores without a clock). */
    const waitUntilGone = async (key: StorageKey, maxMs = 3_000): Promise<boolean> => {
      const deadline = Date.now() + maxMs;
      while (Date.now() < deadline) {
        if ((await store.get(key)) === undefined) return true;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return (await store.get(key)) === undefined;
    };

    describe('get / set / delete', () => {
      it('get on a missing key resolves undefined', async () => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        expect(await store.get(storageKey(scope, 'entry', 'missing'))).toBeUndefined();
      });

      it.each([
        ['null', null],
        ['0', 0],
        ['empty string', ''],
        ['false', false],
        ['true', true],
        ['a negative float', -12.5],
        ['a string', 'hello, wörld ✓'],
        ['a nested object', { a: 1, b: { c: [1, 2, { d: null }], e: '' }, f: false }],
        ['an array', [0, null, '', false, [], {}]],
        ['an empty array', []],
        ['an empty object', {}],
      ])('round-trips %s, and a hit is never confused with a miss', async (_label, value) => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const key = storageKey(scope, 'entry', 'k');
        const env = envelope(key, value);
        await store.set(key, env, 60_000);
        const got = await store.get(key);
        expect(got).not.toBeUndefined();
        if (value === null || typeof value !== 'object') expect(got!.value).toBe(value);
        else expect(got!.value).toEqual(value);
        expect(got!.stamp).toBe(env.stamp);
        expect(got!.scope).toBe(scope.id);
        expect(got!.createdAt).toBe(env.createdAt);
        expect(got!.expiresAt).toBe(env.expiresAt);
      });

      it('keeps tags with the entry', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        await store.set(key, envelope(key, 1, { tags: ['p:1', 'list'] }), 60_000);
        expect([...((await store.get(key))?.tags ?? [])].sort()).toEqual(['list', 'p:1']);
      });

      it('keeps how long the computation ran (eager refresh by XFetch reads it), and none when none was given', async () => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const timed = storageKey(scope, 'entry', 'timed');
        const untimed = storageKey(scope, 'entry', 'untimed');
        await store.set(timed, { ...envelope(timed, { n: 1 }), computeMs: 420 }, 60_000);
        await store.set(untimed, envelope(untimed, 'v'), 60_000);
        expect((await store.get(timed))?.computeMs).toBe(420);
        expect((await store.get(untimed))?.computeMs).toBeUndefined();
        if (store.getSync !== undefined) expect(store.getSync(timed)?.computeMs).toBe(420);
      });

      it('an overwrite replaces the value and the stamp', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        await store.set(key, envelope(key, 'v1'), 60_000);
        const v2 = envelope(key, 'v2');
        await store.set(key, v2, 60_000);
        const got = await store.get(key);
        expect(got?.value).toBe('v2');
        expect(got?.stamp).toBe(v2.stamp);
      });

      it('delete resolves true for an entry, then false; the entry is gone', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        await store.set(key, envelope(key, null), 60_000);
        expect(await store.delete(key)).toBe(true);
        expect(await store.get(key)).toBeUndefined();
        expect(await store.delete(key)).toBe(false);
      });

      it('the same user key under two tenants holds two entries', async () => {
        const ns = freshNamespace();
        const a = storageKey(KeyScope.of(ns, 'a'), 'entry', 'k');
        const b = storageKey(KeyScope.of(ns, 'b'), 'entry', 'k');
        await store.set(a, envelope(a, 'A'), 60_000);
        await store.set(b, envelope(b, 'B'), 60_000);
        expect((await store.get(a))?.value).toBe('A');
        expect((await store.get(b))?.value).toBe('B');
        await store.delete(a);
        expect((await store.get(b))?.value).toBe('B');
      });
    });

    describe('ttl', () => {
      it('an entry is gone once its ttl has passed', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        if (ctx.clock) {
          await store.set(key, envelope(key, 'v'), 1_000);
          ctx.clock.advance(500);
          expect((await store.get(key))?.value).toBe('v');
          ctx.clock.advance(501);
          expect(await store.get(key)).toBeUndefined();
        } else {
          await store.set(key, envelope(key, 'v'), 50);
          expect(await waitUntilGone(key)).toBe(true);
        }
      });

      it('ttl 0 keeps the entry', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        await store.set(key, envelope(key, 'v'), 0);
        ctx.clock?.advance(365 * 86_400_000);
        expect((await store.get(key))?.value).toBe('v');
      });

      it('get still returns an entry past its logical expiry while it is kept (stale is the caller\'s call)', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        const env = envelope(key, 'stale', { expiresAt: now() - 1_000 });
        await store.set(key, env, 60_000);
        expect((await store.get(key))?.stamp).toBe(env.stamp);
      });

      it.each([-1, Number.NaN, Number.POSITIVE_INFINITY])('rejects ttlMs %s', async (ttl) => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        await expect(store.set(key, envelope(key, 1), ttl)).rejects.toMatchObject({ code: 'ERR_INVALID_TTL' });
        await expect(store.getOrSet(key, envelope(key, 1), ttl)).rejects.toMatchObject({ code: 'ERR_INVALID_TTL' });
        await expect(store.compareAndSet(key, null, envelope(key, 1), ttl)).rejects.toMatchObject({ code: 'ERR_INVALID_TTL' });
        expect(await store.get(key)).toBeUndefined();
      });
    });

    describe('getOrSet', () => {
      it('writes when absent (set: true)', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        const env = envelope(key, { n: 1 });
        const result = await store.getOrSet(key, env, 60_000);
        expect(result.set).toBe(true);
        expect(result.envelope.stamp).toBe(env.stamp);
        expect((await store.get(key))?.stamp).toBe(env.stamp);
      });

      it('returns the present entry and its stamp without writing (set: false)', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        const first = envelope(key, 'first', { freshMs: 60_000 });
        await store.set(key, first, 60_000);
        const result = await store.getOrSet(key, envelope(key, 'second'), 60_000);
        expect(result.set).toBe(false);
        expect(result.envelope.stamp).toBe(first.stamp);
        expect(result.envelope.value).toBe('first');
        expect((await store.get(key))?.stamp).toBe(first.stamp);
      });

      it('a stored null is present', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        const first = envelope(key, null);
        await store.set(key, first, 60_000);
        const result = await store.getOrSet(key, envelope(key, 'other'), 60_000);
        expect(result).toMatchObject({ set: false, envelope: { stamp: first.stamp, value: null } });
      });

      it('treats an entry past its logical expiry (still kept) as absent', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        await store.set(key, envelope(key, 'old', { expiresAt: now() - 1_000 }), 60_000);
        const fresh = envelope(key, 'new', { freshMs: 60_000 });
        const result = await store.getOrSet(key, fresh, 60_000);
        expect(result.set).toBe(true);
        expect(result.envelope.stamp).toBe(fresh.stamp);
        expect((await store.get(key))?.stamp).toBe(fresh.stamp);
      });

      it('the entries getOrSet and compareAndSet write get the ttl', async () => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const viaGetOrSet = storageKey(scope, 'entry', 'g');
        const viaCas = storageKey(scope, 'entry', 'c');
        const ttl = ctx.clock ? 1_000 : 50;
        expect((await store.getOrSet(viaGetOrSet, envelope(viaGetOrSet, 'v'), ttl)).set).toBe(true);
        expect(await store.compareAndSet(viaCas, null, envelope(viaCas, 'v'), ttl)).toBe(true);
        if (ctx.clock) {
          ctx.clock.advance(1_001);
          expect(await store.get(viaGetOrSet)).toBeUndefined();
          expect(await store.get(viaCas)).toBeUndefined();
        } else {
          expect(await waitUntilGone(viaGetOrSet)).toBe(true);
          expect(await waitUntilGone(viaCas)).toBe(true);
        }
      });

      it('100 concurrent calls on an absent key: exactly one writes, all see the same entry', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        const candidates = Array.from({ length: 100 }, (_, i) => envelope(key, { i }));
        const results = await Promise.all(candidates.map((env) => store.getOrSet(key, env, 60_000)));
        const winners = results.filter((r) => r.set);
        expect(winners).toHaveLength(1);
        const stamp = winners[0]!.envelope.stamp;
        expect(candidates.map((c) => c.stamp)).toContain(stamp);
        expect(new Set(results.map((r) => r.envelope.stamp))).toEqual(new Set([stamp]));
        expect((await store.get(key))?.stamp).toBe(stamp);
      });
    });

    describe('compareAndSet', () => {
      it('with null: writes when absent, refuses when present', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        const first = envelope(key, 1);
        expect(await store.compareAndSet(key, null, first, 60_000)).toBe(true);
        expect((await store.get(key))?.stamp).toBe(first.stamp);
        expect(await store.compareAndSet(key, null, envelope(key, 2), 60_000)).toBe(false);
        expect((await store.get(key))?.stamp).toBe(first.stamp);
      });

      it('with the stored stamp: writes; with another stamp: refuses and leaves the entry', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        const v0 = envelope(key, 0);
        await store.set(key, v0, 60_000);
        expect(await store.compareAndSet(key, newStamp(), envelope(key, 'wrong'), 60_000)).toBe(false);
        expect((await store.get(key))?.stamp).toBe(v0.stamp);
        const v1 = envelope(key, 1);
        expect(await store.compareAndSet(key, v0.stamp, v1, 60_000)).toBe(true);
        expect((await store.get(key))?.stamp).toBe(v1.stamp);
        // v0's stamp is history now: a late writer holding it loses.
        expect(await store.compareAndSet(key, v0.stamp, envelope(key, 'late'), 60_000)).toBe(false);
        expect((await store.get(key))?.stamp).toBe(v1.stamp);
      });

      it('with a stamp on an absent key: refuses and writes nothing', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        expect(await store.compareAndSet(key, newStamp(), envelope(key, 1), 60_000)).toBe(false);
        expect(await store.get(key)).toBeUndefined();
      });

      it('an entry past its logical expiry is absent: null wins, its old stamp loses', async () => {
        const ns = freshNamespace();
        const scope = KeyScope.of(ns, 'acme');
        const a = storageKey(scope, 'entry', 'a');
        await store.set(a, envelope(a, 'old', { expiresAt: now() - 1_000 }), 60_000);
        const fresh = envelope(a, 'new');
        expect(await store.compareAndSet(a, null, fresh, 60_000)).toBe(true);
        expect((await store.get(a))?.stamp).toBe(fresh.stamp);

        const b = storageKey(scope, 'entry', 'b');
        const old = envelope(b, 'old', { expiresAt: now() - 1_000 });
        await store.set(b, old, 60_000);
        expect(await store.compareAndSet(b, old.stamp, envelope(b, 'new'), 60_000)).toBe(false);
        expect((await store.get(b))?.stamp).toBe(old.stamp);
      });

      it('100 concurrent calls expecting the same stamp: exactly one wins and its value is stored', async () => {
        const key = storageKey(KeyScope.of(freshNamespace(), 'acme'), 'entry', 'k');
        const v0 = envelope(key, 'v0');
        await store.set(key, v0, 60_000);
        const candidates = Array.from({ length: 100 }, (_, i) => envelope(key, `v${i + 1}`));
        const outcomes = await Promise.all(candidates.map((env) => store.compareAndSet(key, v0.stamp, env, 60_000)));
        expect(outcomes.filter(Boolean)).toHaveLength(1);
        const winner = candidates[outcomes.indexOf(true)]!;
        const stored = await store.get(key);
        expect(stored?.stamp).toBe(winner.stamp);
        expect(stored?.value).toBe(winner.value);
      });
    });

    describe('tenant isolation', () => {
      // Prefixes of each other, and characters that mean something to globs, hash tags and lines.
      const tenants = ['a', 'a:b', 'ab', 'a*', 'b', '*', '?', '[', ']', '{', '}', '{a}', '\\', '\n', 'a\nb', '%', 'a%2A', 'g', 't.a', 'ü'];

      it('clearScope removes every entry of one tenant and leaves every other tenant and the global scope intact', async () => {
        const ns = freshNamespace();
        const refs: TenantRef[] = [...tenants, GLOBAL_SCOPE];
        const keysOf = new Map<TenantRef, StorageKey[]>();
        for (const ref of refs) {
          const scope = KeyScope.of(ns, ref);
          const keys = [storageKey(scope, 'entry', 'k1'), storageKey(scope, 'entry', 'k2'), storageKey(scope, 'entry', '*')];
          keysOf.set(ref, keys);
          for (const [i, key] of keys.entries()) await store.set(key, envelope(key, `${String(ref)}/${i}`, i === 0 ? { tags: ['t'] } : {}), 60_000);
        }
        const cleared = new Set<TenantRef>();
        for (const ref of refs) {
          await store.clearScope(KeyScope.of(ns, ref));
          cleared.add(ref);
          for (const other of refs) {
            for (const [i, key] of keysOf.get(other)!.entries()) {
              const got = await store.get(key);
              if (cleared.has(other)) expect(got, `${JSON.stringify(String(other))} after clearing ${JSON.stringify(String(ref))}`).toBeUndefined();
              else expect(got?.value, `${JSON.stringify(String(other))} after clearing ${JSON.stringify(String(ref))}`).toBe(`${String(other)}/${i}`);
            }
          }
        }
      });

      it('a clear covers tags too: an entry written before stays unreadable, one written after with the same tag reads until that tag is invalidated', async () => {
        const ns = freshNamespace();
        const scope = KeyScope.of(ns, 'a');
        const old = storageKey(scope, 'entry', 'old');
        await store.set(old, envelope(old, 1, { tags: ['t'] }), 60_000);
        await store.clearScope(scope);
        expect(await store.get(old)).toBeUndefined();
        const fresh = storageKey(scope, 'entry', 'new');
        await store.set(fresh, envelope(fresh, 2, { tags: ['t'] }), 60_000);
        expect((await store.get(fresh))?.value).toBe(2);
        expect(await store.get(old)).toBeUndefined(); // a later write of the tag brings nothing back
        await store.invalidateTags([storageKey(scope, 'tag', 't')]);
        expect(await store.get(fresh)).toBeUndefined();
        expect(await store.get(old)).toBeUndefined();
      });

      it('the global scope is separate from every tenant, including one named like it', async () => {
        const ns = freshNamespace();
        const global = storageKey(KeyScope.of(ns, GLOBAL_SCOPE), 'entry', 'k');
        const namedG = storageKey(KeyScope.of(ns, 'g'), 'entry', 'k');
        await store.set(global, envelope(global, 'global'), 60_000);
        await store.set(namedG, envelope(namedG, 'tenant g'), 60_000);
        expect((await store.get(global))?.value).toBe('global');
        await store.clearScope(KeyScope.of(ns, 'g'));
        expect((await store.get(global))?.value).toBe('global');
        await store.set(namedG, envelope(namedG, 'tenant g'), 60_000);
        await store.clearScope(KeyScope.of(ns, GLOBAL_SCOPE));
        expect(await store.get(global)).toBeUndefined();
        expect((await store.get(namedG))?.value).toBe('tenant g');
      });

      it('clearScope of another namespace leaves this one intact', async () => {
        const ns1 = freshNamespace();
        const ns2 = freshNamespace();
        const key = storageKey(KeyScope.of(ns1, 'a'), 'entry', 'k');
        await store.set(key, envelope(key, 1, { tags: ['t'] }), 60_000);
        expect(await store.purgeScope(KeyScope.of(ns2, 'a'))).toBe(0);
        await store.clearScope(KeyScope.of(ns2, 'a'));
        await store.invalidateTags([storageKey(KeyScope.of(ns2, 'a'), 'tag', 't')]);
        expect((await store.get(key))?.value).toBe(1);
      });

      it('scopeSize counts one tenant\'s entries where the store can count', async () => {
        const ns = freshNamespace();
        const scope = KeyScope.of(ns, 'a');
        for (const k of ['1', '2', '3']) {
          const key = storageKey(scope, 'entry', k);
          await store.set(key, envelope(key, k), 60_000);
        }
        const other = storageKey(KeyScope.of(ns, 'ab'), 'entry', '1');
        await store.set(other, envelope(other, 1), 60_000);
        const size = store.scopeSize(scope);
        if (size !== undefined) {
          expect(size).toBe(3);
          await store.clearScope(scope);
          expect(store.scopeSize(scope)).toBe(0);
          expect(store.scopeSize(KeyScope.of(ns, 'ab'))).toBe(1);
        }
      });
    });

    describe('invalidateTags', () => {
      it('deletes the tagged entries of that tenant only, and leaves untagged entries', async () => {
        const ns = freshNamespace();
        const a = KeyScope.of(ns, 'a');
        const b = KeyScope.of(ns, 'ab');
        const put = async (scope: KeyScope, k: string, tags?: string[]): Promise<StorageKey> => {
          const key = storageKey(scope, 'entry', k);
          await store.set(key, envelope(key, k, tags ? { tags } : {}), 60_000);
          return key;
        };
        const a1 = await put(a, '1', ['x']);
        const a2 = await put(a, '2', ['x', 'y']);
        const a3 = await put(a, '3', ['y']);
        const a4 = await put(a, '4');
        const b1 = await put(b, '1', ['x']);
        const g1 = await put(KeyScope.of(ns, GLOBAL_SCOPE), '1', ['x']);

        await store.invalidateTags([storageKey(a, 'tag', 'x')]);
        expect(await store.get(a1)).toBeUndefined();
        expect(await store.get(a2)).toBeUndefined();
        expect((await store.get(a3))?.value).toBe('3');
        expect((await store.get(a4))?.value).toBe('4');
        expect((await store.get(b1))?.value).toBe('1');
        expect((await store.get(g1))?.value).toBe('1');

        await store.invalidateTags([storageKey(a, 'tag', 'y'), storageKey(a, 'tag', 'nope')]);
        expect(await store.get(a3)).toBeUndefined();
        expect((await store.get(a4))?.value).toBe('4');
        await store.invalidateTags([storageKey(a, 'tag', 'x')]);
        await store.invalidateTags([]);
        expect((await store.get(b1))?.value).toBe('1');
      });

      it('tag names with hostile characters match only themselves', async () => {
        const ns = freshNamespace();
        const scope = KeyScope.of(ns, 'a');
        const star = storageKey(scope, 'entry', 'star');
        const plain = storageKey(scope, 'entry', 'plain');
        await store.set(star, envelope(star, 1, { tags: ['p:*'] }), 60_000);
        await store.set(plain, envelope(plain, 2, { tags: ['p:1'] }), 60_000);
        await store.invalidateTags([storageKey(scope, 'tag', 'p:*')]);
        expect((await store.get(plain))?.value).toBe(2);
      });
    });

    describe('getMany / deleteMany / pull', () => {
      it('getMany answers each key in order, as get would (misses, other tenants, invalidated entries)', async () => {
        const ns = freshNamespace();
        const a = KeyScope.of(ns, 'a');
        const b = KeyScope.of(ns, 'ab');
        const key = (scope: KeyScope, k: string): StorageKey => storageKey(scope, 'entry', k);
        await store.set(key(a, '1'), envelope(key(a, '1'), { n: 1 }), 60_000);
        await store.set(key(a, '2'), envelope(key(a, '2'), null, { tags: ['t'] }), 60_000);
        await store.set(key(a, '3'), envelope(key(a, '3'), 'three', { tags: ['u'] }), 60_000);
        await store.set(key(b, '1'), envelope(key(b, '1'), 'b1'), 60_000);
        await store.invalidateTags([storageKey(a, 'tag', 'u')]);
        const got = await store.getMany!([key(a, '1'), key(a, 'missing'), key(a, '2'), key(a, '3'), key(b, '1'), key(a, '1')]);
        expect(got.map((env) => env?.value)).toEqual([{ n: 1 }, undefined, null, undefined, 'b1', { n: 1 }]);
        expect(await store.getMany!([])).toEqual([]);
      });

      it('deleteMany deletes only the keys given, and resolves how many held a readable entry', async () => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const keys = ['1', '2', '3', '4'].map((k) => storageKey(scope, 'entry', k));
        for (const k of keys) await store.set(k, envelope(k, userKeyOf(k), { tags: ['t'] }), 60_000);
        await store.set(keys[2]!, envelope(keys[2]!, 'untagged'), 60_000);
        await store.invalidateTags([storageKey(scope, 'tag', 't')]); // 1, 2 and 4 unreadable now
        await store.set(keys[1]!, envelope(keys[1]!, 'again'), 60_000);
        expect(await store.deleteMany!([keys[0]!, keys[1]!, keys[2]!, storageKey(scope, 'entry', 'none')])).toBe(2);
        expect(await store.get(keys[1]!)).toBeUndefined();
        expect(await store.get(keys[2]!)).toBeUndefined();
        await store.set(keys[3]!, envelope(keys[3]!, 'kept'), 60_000);
        expect((await store.get(keys[3]!))?.value).toBe('kept');
      });

      it('pull hands the entry to exactly one of concurrent callers and deletes it; an invalidated entry is deleted and not handed out', async () => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const k = storageKey(scope, 'entry', 'once');
        await store.set(k, envelope(k, { token: 42 }), 60_000);
        const got = await Promise.all(Array.from({ length: 20 }, () => store.pull!(k)));
        expect(got.filter((env) => env !== undefined).map((env) => env!.value)).toEqual([{ token: 42 }]);
        expect(await store.get(k)).toBeUndefined();
        const tagged = storageKey(scope, 'entry', 'tagged');
        await store.set(tagged, envelope(tagged, 1, { tags: ['t'] }), 60_000);
        await store.invalidateTags([storageKey(scope, 'tag', 't')]);
        expect(await store.pull!(tagged)).toBeUndefined();
        expect(await store.pull!(storageKey(scope, 'entry', 'none'))).toBeUndefined();
      });
    });

    describe('absent for every read after a clear or an invalidation', () => {
      it.each(['clearScope', 'invalidateTags'] as const)('after %s: get misses, getOrSet sees no entry and writes, compareAndSet with null writes', async (how) => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const keys = ['g', 'gos', 'cas'].map((k) => storageKey(scope, 'entry', k));
        for (const key of keys) await store.set(key, envelope(key, 'old', { tags: ['t'], freshMs: 60_000 }), 60_000);
        if (how === 'clearScope') await store.clearScope(scope);
        else await store.invalidateTags([storageKey(scope, 'tag', 't')]);
        const [g, gos, cas] = keys as [StorageKey, StorageKey, StorageKey];
        expect(await store.get(g)).toBeUndefined();
        const written = envelope(gos, 'new', { tags: ['t'] });
        expect(await store.getOrSet(gos, written, 60_000)).toMatchObject({ set: true, envelope: { stamp: written.stamp } });
        expect((await store.get(gos))?.value).toBe('new');
        const replaced = envelope(cas, 'new');
        expect(await store.compareAndSet(cas, null, replaced, 60_000)).toBe(true);
        expect((await store.get(cas))?.stamp).toBe(replaced.stamp);
      });

      it('an entry written before an invalidation stays unreadable after it, through later writes of the tag and other invalidations', async () => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const old = storageKey(scope, 'entry', 'old');
        await store.set(old, envelope(old, 'old', { tags: ['t', 'u'] }), 60_000);
        await store.invalidateTags([storageKey(scope, 'tag', 't')]);
        for (let i = 0; i < 5; i++) {
          const other = storageKey(scope, 'entry', `other${i}`);
          await store.set(other, envelope(other, i, { tags: ['t', 'u'] }), 60_000);
          await store.invalidateTags([storageKey(scope, 'tag', `v${i}`)]);
          expect(await store.get(old)).toBeUndefined();
          expect((await store.get(other))?.value).toBe(i);
        }
        // Invalidating its other tag, or clearing another tenant, changes nothing for it either.
        await store.invalidateTags([storageKey(scope, 'tag', 'u')]);
        await store.clearScope(KeyScope.of(scope.namespace, 'other'));
        expect(await store.get(old)).toBeUndefined();
      });

      it('other tags, other tenants and the global scope are untouched', async () => {
        const ns = freshNamespace();
        const refs: TenantRef[] = ['a', 'b', GLOBAL_SCOPE];
        const keyOf = (ref: TenantRef, k: string): StorageKey => storageKey(KeyScope.of(ns, ref), 'entry', k);
        for (const ref of refs) {
          for (const k of ['x', 'y', 'plain']) await store.set(keyOf(ref, k), envelope(keyOf(ref, k), `${String(ref)}/${k}`, k === 'plain' ? {} : { tags: [k] }), 60_000);
        }
        await store.invalidateTags([storageKey(KeyScope.of(ns, 'a'), 'tag', 'x')]);
        await store.clearScope(KeyScope.of(ns, 'b'));
        expect(await store.get(keyOf('a', 'x'))).toBeUndefined();
        expect((await store.get(keyOf('a', 'y')))?.value).toBe('a/y');
        expect((await store.get(keyOf('a', 'plain')))?.value).toBe('a/plain');
        for (const k of ['x', 'y', 'plain']) {
          expect(await store.get(keyOf('b', k))).toBeUndefined();
          expect((await store.get(keyOf(GLOBAL_SCOPE, k)))?.value).toBe(`${String(GLOBAL_SCOPE)}/${k}`);
        }
      });

      // Prefixes of each other, glob, hash-tag and key separators, the scope encoding's own escape, unicode.
      const hostile = ['*', '{', '}', ':', '%', 'a', 'a:b', '{a}', '%2A', 't.%', 'ü', '漢字', '\u{1F600}'];

      it('tags and keys of hostile tenant ids stay apart: an invalidation or a clear of one reaches no other', async () => {
        const ns = freshNamespace();
        const keyOf = (tenant: string, k: string): StorageKey => storageKey(KeyScope.of(ns, tenant), 'entry', k);
        for (const tenant of hostile) {
          for (const k of ['*', 'k']) await store.set(keyOf(tenant, k), envelope(keyOf(tenant, k), `${tenant}/${k}`, { tags: ['*', `tag:${tenant}`] }), 60_000);
        }
        const done = new Set<string>();
        for (const [i, tenant] of hostile.entries()) {
          const scope = KeyScope.of(ns, tenant);
          if (i % 2 === 0) await store.invalidateTags([storageKey(scope, 'tag', '*')]);
          else await store.clearScope(scope);
          done.add(tenant);
          for (const other of hostile) {
            for (const k of ['*', 'k']) {
              const got = await store.get(keyOf(other, k));
              if (done.has(other)) expect(got, `${other} after ${tenant}`).toBeUndefined();
              else expect(got?.value, `${other} after ${tenant}`).toBe(`${other}/${k}`);
            }
          }
        }
      });
    });

    describe('a computation\'s basis (no resurrection)', () => {
      const basisOf = async (scope: KeyScope): Promise<StoreBasis> => {
        expect(store.basis).toBeTypeOf('function');
        return store.basis!(scope);
      };

      it.each(['invalidateTags', 'clearScope'] as const)('a set whose basis was taken before %s is not applied (it resolves false); one taken after is', async (how) => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const key = storageKey(scope, 'entry', 'k');
        await store.set(key, envelope(key, 'before', { tags: ['t'] }), 60_000);
        const early = await basisOf(scope);
        if (how === 'clearScope') await store.clearScope(scope);
        else await store.invalidateTags([storageKey(scope, 'tag', 't')]);
        await expect(store.set(key, envelope(key, 'computed before', { tags: ['t'] }), 60_000, early)).resolves.toBe(false);
        expect(await store.get(key)).toBeUndefined(); // neither the old value nor the late one
        const late = await basisOf(scope);
        await store.set(key, envelope(key, 'computed after', { tags: ['t'] }), 60_000, late);
        expect((await store.get(key))?.value).toBe('computed after');
      });

      it('an invalidation after the basis of a tag the entry does not carry, or of another tenant, does not refuse it', async () => {
        const ns = freshNamespace();
        const scope = KeyScope.of(ns, 'acme');
        const key = storageKey(scope, 'entry', 'k');
        // The tag recorded before the basis (Redis refuses a computation whose tag no key records
        // if anything was issued in the scope since its basis: it may have been lost, evicted).
        const before = storageKey(scope, 'entry', 'before');
        await store.set(before, envelope(before, 'b', { tags: ['t'] }), 60_000);
        const early = await basisOf(scope);
        await store.invalidateTags([storageKey(scope, 'tag', 'other'), storageKey(KeyScope.of(ns, 'b'), 'tag', 't')]);
        await store.clearScope(KeyScope.of(ns, 'b'));
        await store.set(key, envelope(key, 'v', { tags: ['t'] }), 60_000, early);
        expect((await store.get(key))?.value).toBe('v');
        // The written entry is based on the early basis: an invalidation of its tag now makes it unreadable.
        await store.invalidateTags([storageKey(scope, 'tag', 't')]);
        expect(await store.get(key)).toBeUndefined();
      });

      it('an untagged write with a basis taken before a tag invalidation of its tenant is applied; before a clear it is not', async () => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const key = storageKey(scope, 'entry', 'plain');
        const early = await basisOf(scope);
        await store.invalidateTags([storageKey(scope, 'tag', 't')]);
        await store.set(key, envelope(key, 1), 60_000, early);
        expect((await store.get(key))?.value).toBe(1);
        const beforeClear = await basisOf(scope);
        await store.clearScope(scope);
        await store.set(key, envelope(key, 2), 60_000, beforeClear);
        expect(await store.get(key)).toBeUndefined();
      });

      it("a basis of another store is no basis to trust: the write is not applied (resolves false), nor an older value kept readable by it", async () => {
        const scope = KeyScope.of(freshNamespace(), 'acme');
        const key = storageKey(scope, 'entry', 'k');
        await store.invalidateTags([storageKey(scope, 'tag', 't')]);
        expect(await store.set(key, envelope(key, 'v', { tags: ['t'] }), 60_000, { store: 'another', value: 0 })).toBe(false);
        expect(await store.get(key)).toBeUndefined();
        // A plain write (no basis) is based on the write itself.
        await store.set(key, envelope(key, 'plain', { tags: ['t'] }), 60_000);
        expect((await store.get(key))?.value).toBe('plain');
      });
    });

    describe('purgeScope', () => {
      it('deletes every entry of the scope and nothing else; the scope reads as cleared, a computation from before is refused, new writes read', async () => {
        const ns = freshNamespace();
        const tenants = ['victim', 'victim:x', 'victi', '*', 'ü'];
        const keysOf = new Map<string, StorageKey[]>();
        for (const tenant of tenants) {
          const scope = KeyScope.of(ns, tenant);
          const keys = Array.from({ length: 20 }, (_, i) => storageKey(scope, 'entry', `k${i}`));
          keysOf.set(tenant, keys);
          for (const [i, key] of keys.entries()) await store.set(key, envelope(key, `${tenant}/${i}`, i % 2 ? { tags: ['t', `t${i % 3}`] } : {}), 60_000);
        }
        const victim = KeyScope.of(ns, 'victim');
        await store.invalidateTags([storageKey(victim, 'tag', 't0')]);
        const early = store.basis === undefined ? undefined : await store.basis(victim);
        expect(await store.purgeScope(victim)).toBeGreaterThanOrEqual(20);
        for (const tenant of tenants) {
          for (const [i, key] of keysOf.get(tenant)!.entries()) {
            const got = await store.get(key);
            if (tenant === 'victim') expect(got, key.full).toBeUndefined();
            else expect(got?.value, key.full).toBe(`${tenant}/${i}`);
          }
        }
        const key = keysOf.get('victim')![0]!;
        if (early !== undefined) {
          await store.set(key, envelope(key, 'computed before the purge'), 60_000, early);
          expect(await store.get(key)).toBeUndefined();
        }
        await store.set(key, envelope(key, 'after', { tags: ['t'] }), 60_000);
        expect((await store.get(key))?.value).toBe('after');
        expect(await store.purgeScope(victim)).toBeGreaterThanOrEqual(1);
        expect(await store.get(key)).toBeUndefined();
      });
    });

    describe('health, stats, close', () => {
      it('is healthy and reports stats while open', async () => {
        expect((await store.health()).ok).toBe(true);
        const stats = store.stats();
        expect(typeof stats.evictions).toBe('number');
        expect(typeof stats.decodeErrors).toBe('number');
        expect(typeof stats.errors).toBe('number');
      });

      it('after close every operation rejects with CacheClosedError, health is not ok, and close is idempotent', async () => {
        const own = await setup();
        try {
          const key = storageKey(KeyScope.of(freshNamespace(), 'a'), 'entry', 'k');
          const env = envelope(key, 1);
          await own.store.set(key, env, 60_000);
          await own.store.close();
          await expect(own.store.close()).resolves.toBeUndefined();
          const calls: Array<[string, () => Promise<unknown>]> = [
            ['get', () => own.store.get(key)],
            ['set', () => own.store.set(key, env, 1_000)],
            ['delete', () => own.store.delete(key)],
            ['getOrSet', () => own.store.getOrSet(key, env, 1_000)],
            ['compareAndSet', () => own.store.compareAndSet(key, null, env, 1_000)],
            ['clearScope', () => own.store.clearScope(key.scope)],
            ['invalidateTags', () => own.store.invalidateTags([storageKey(key.scope, 'tag', 't')])],
            ['purgeScope', () => own.store.purgeScope(key.scope)],
          ];
          for (const [op, call] of calls) await expect(call(), op).rejects.toBeInstanceOf(CacheClosedError);
          expect((await own.store.health()).ok).toBe(false);
        } finally {
          await own.teardown();
        }
      });
    });
  });
}
