import { describe, expect, it } from 'vitest';
import { FactoryFailedError } from '../../lib/errors/cache.errors.js';
import type { FactoryContext } from '../../lib/cache/compute-policy.js';
import { engineFixture, type StoreKind } from '../helpers/engine-fixture.js';
import { describeWithRedis } from '../helpers/redis-server.js';

/**
 * Issue 16, point 1 (factory context) and point 4 (convenience operations), on memory and on a
 * real Redis, with the manual clock: each feature is shown by what a later read finds.
 */
function suite(kind: StoreKind): void {
  const { managersOn } = engineFixture(kind);

  describe('factory context', () => {
    it('ctx.setTtl sets the TTL from the result (adaptive caching: a not-found 10 s, a good answer 1 h)', async () => {
      const { clock, all } = await managersOn();
      const cache = all[0]!.forTenant('acme');
      const lookup = async (id: string): Promise<{ found: boolean }> =>
        cache.wrap(`product:${id}`, (ctx) => {
          const found = id !== 'missing';
          ctx.setTtl(found ? '1h' : '10s');
          return { found };
        });
      await lookup('missing');
      await lookup('1');
      const missing = await cache.getEntry('product:missing');
      const good = await cache.getEntry('product:1');
      expect(missing!.expiresAt - missing!.createdAt).toBe(10_000);
      expect(good!.expiresAt - good!.createdAt).toBe(3_600_000);
      clock.advance(11_000);
      expect(await cache.has('product:missing')).toBe(false);
      expect(await cache.get('product:1')).toEqual({ found: true });
    });

    it('ctx.setTags tags the entry from the result; invalidating a tag removes it', async () => {
      const { all } = await managersOn();
      const cache = all[0]!.forTenant('acme');
      await cache.wrap('order:7', (ctx) => {
        const order = { id: 7, customer: 'c42' };
        ctx.setTags([`customer:${order.customer}`]);
        return order;
      });
      expect((await cache.getEntry('order:7'))?.tags).toEqual(['customer:c42']);
      await cache.invalidateTags(['customer:c42']);
      expect(await cache.get('order:7')).toBeUndefined();
    });

    it('ctx.skip(): the value is returned and not stored; 20 concurrent callers get it from one run', async () => {
      const { all } = await managersOn();
      const cache = all[0]!.forTenant('acme');
      let runs = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const factory = async (ctx: FactoryContext<{ partial: boolean }>): Promise<{ partial: boolean }> => {
        runs++;
        await gate;
        ctx.skip();
        return { partial: true };
      };
      const callers = Array.from({ length: 20 }, () => cache.wrap('report', factory));
      release();
      const got = await Promise.all(callers);
      console.log(`[factory-context] ${kind}: skip() with 20 concurrent callers: ${runs} factory run(s), ${got.filter((v) => v.partial).length} callers got the value`);
      expect(runs).toBe(1);
      expect(got).toEqual(Array.from({ length: 20 }, () => ({ partial: true })));
      expect(await cache.has('report')).toBe(false);
      expect(await cache.wrap('report', () => ({ partial: false }))).toEqual({ partial: false });
    });

    it('ctx.fail(): with an entry in grace, it is served and kept (even with staleIfError: false); without one, the caller gets the error and nothing is stored', async () => {
      const { clock, all } = await managersOn();
      const cache = all[0]!.forTenant('acme');
      await cache.set('rate', 1.25, { ttl: '1s', grace: '1h' });
      clock.advance(2_000);
      const served = await cache.wrap('rate', (ctx) => ctx.fail('upstream down'), { staleIfError: false, grace: '1h' });
      expect(served).toBe(1.25);
      let graced: unknown;
      expect(await cache.wrap('rate', (ctx) => ((graced = ctx.gracedEntry?.value), 1.3), { grace: '1h' })).toBe(1.3);
      expect(graced).toBe(1.25); // the failed run left the entry in grace where it was

      await expect(cache.wrap('fresh', (ctx) => ctx.fail('upstream down'))).rejects.toBeInstanceOf(FactoryFailedError);
      await expect(cache.wrap('fresh', (ctx) => ctx.fail(new RangeError('bad input')))).rejects.toBeInstanceOf(RangeError);
      // A factory that catches its own fail() still failed: nothing is stored.
      const caught = await cache
        .wrap('fresh', (ctx) => {
          try {
            ctx.fail('nope');
          } catch {
            return 'computed anyway';
          }
        })
        .catch((err: unknown) => err);
      expect(caught).toBeInstanceOf(FactoryFailedError);
      expect(await cache.has('fresh')).toBe(false);
    });

    it('ctx.gracedEntry is the entry being refreshed (value and metadata), undefined on a plain miss', async () => {
      const { clock, all } = await managersOn();
      const cache = all[0]!.forTenant('acme');
      const seen: Array<unknown> = [];
      const factory = (ctx: FactoryContext<{ version: number }>): { version: number } => {
        seen.push(ctx.gracedEntry === undefined ? undefined : { value: ctx.gracedEntry.value, tags: ctx.gracedEntry.tags });
        return { version: (ctx.gracedEntry?.value.version ?? 0) + 1 };
      };
      expect(await cache.wrap('doc', factory, { ttl: '1m', grace: '1h', tags: ['doc'] })).toEqual({ version: 1 });
      clock.advance(61_000);
      expect(await cache.wrap('doc', factory, { ttl: '1m', grace: '1h', tags: ['doc'] })).toEqual({ version: 2 });
      expect(seen).toEqual([undefined, { value: { version: 1 }, tags: ['doc'] }]);
    });
  });

  describe('convenience operations', () => {
    it('get(key, { defaultValue }) and missing(key)', async () => {
      const { all } = await managersOn();
      const cache = all[0]!.forTenant('acme');
      expect(await cache.get('nope', { defaultValue: 'fallback' })).toBe('fallback');
      expect(await cache.missing('nope')).toBe(true);
      await cache.set('there', null);
      expect(await cache.get('there', { defaultValue: 'fallback' })).toBeNull();
      expect(await cache.missing('there')).toBe(false);
      expect(await cache.has('nope')).toBe(false); // defaultValue stored nothing
    });

    it('wrap(..., { forceFresh: true }) computes over a fresh entry and stores the result; if it throws, the fresh entry is served', async () => {
      const { all } = await managersOn();
      const cache = all[0]!.forTenant('acme');
      await cache.set('price', 10, { ttl: '1h' });
      let replaced: unknown;
      expect(await cache.wrap('price', (ctx) => ((replaced = ctx.gracedEntry?.value), 11), { forceFresh: true })).toBe(11);
      expect(replaced).toBe(10);
      expect(await cache.get('price')).toBe(11);
      expect(
        await cache.wrap(
          'price',
          () => {
            throw new Error('source down');
          },
          { forceFresh: true },
        ),
      ).toBe(11);
      expect(await cache.wrap('price', () => 12)).toBe(11); // a plain wrap still hits
    });

    it('expire(key): a miss at once, kept for its grace (stale-if-error serves it); without grace it is deleted', async () => {
      const { all } = await managersOn();
      const cache = all[0]!.forTenant('acme');
      await cache.set('feed', ['a'], { ttl: '1h', grace: '1h' });
      await cache.set('plain', 'p', { ttl: '1h' });
      expect(await cache.expire('feed')).toBe(true);
      expect(await cache.expire('plain')).toBe(true);
      expect(await cache.expire('none')).toBe(false);
      expect(await cache.get('feed')).toBeUndefined();
      expect(await cache.get('plain')).toBeUndefined();
      const failing = (): string[] => {
        throw new Error('source down');
      };
      expect(await cache.wrap('feed', failing, { grace: '1h' })).toEqual(['a']);
      await expect(cache.wrap('plain', () => Promise.reject(new Error('source down')))).rejects.toThrow('source down');
      expect(await cache.wrap('feed', () => ['b'], { grace: '1h' })).toEqual(['b']);
    });

    it('defaultGrace gives every entry written without its own a grace', async () => {
      const { clock, all } = await managersOn(1, { defaultGrace: '10m' });
      const cache = all[0]!.forTenant('acme');
      await cache.set('k', 'v', { ttl: '1s' });
      const entry = await cache.getEntry('k');
      expect(entry!.staleUntil! - entry!.expiresAt).toBe(600_000);
      clock.advance(2_000);
      expect(await cache.wrap('k', () => Promise.reject(new Error('down')))).toBe('v');
      await cache.set('own', 'v', { ttl: '1s', grace: 0 });
      expect((await cache.getEntry('own'))!.staleUntil).toBeUndefined();
    });

    it('getMany / setMany / deleteMany / pull on one tenant, never reaching another', async () => {
      const { all } = await managersOn();
      const acme = all[0]!.forTenant('acme');
      const other = all[0]!.forTenant('other');
      await acme.setMany([
        { key: 'a', value: 1 },
        { key: 'b', value: { two: 2 }, options: { tags: ['t'] } },
        { key: 'c', value: null, options: { ttl: '1h' } },
      ]);
      await other.set('a', 'other');
      expect(await acme.getMany(['a', 'b', 'x', 'c'])).toEqual([1, { two: 2 }, undefined, null]);
      expect(await other.getMany(['a', 'b'])).toEqual(['other', undefined]);
      expect(await acme.pull('a')).toBe(1);
      expect(await acme.pull('a')).toBeUndefined();
      expect(await acme.deleteMany(['b', 'c', 'x'])).toBe(2);
      expect(await acme.getMany(['a', 'b', 'c'])).toEqual([undefined, undefined, undefined]);
      expect(await other.get('a')).toBe('other');
      // The type refuses undefined; a value that slips through (an `any`) is refused at run time too.
      await expect(acme.setMany([{ key: 'ok', value: 1 }, { key: 'bad', value: undefined as never }])).rejects.toThrow(/undefined/);
      expect(await acme.has('ok')).toBe(false); // checked before any write
    });
  });
}

describe('engine API on the memory store', () => {
  suite('memory');
});
describeWithRedis('engine API on Redis', () => {
  suite('redis');
});
