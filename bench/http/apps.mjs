/**
 * The Nest applications the HTTP cases run, one per process. Each factory takes the case's
 * `options` plus `{ redisUrl }` and returns the root module class.
 *
 * Every app serves:
 *   GET /item           the route under test (constant, 5 ms, or the 5 ms handler behind a cache)
 *   GET /stampede/:id   a 100 ms handler behind the same cache (cold-key stampede case)
 *   GET /__runs         how many times the handlers ran (to prove hits are hits and count stampedes)
 *
 * To add an app: add a factory here and reference it from a case in cases.mjs.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Controller, Get, Injectable, Module, Param, UseGuards, UseInterceptors } from '@nestjs/common';
import { of } from 'rxjs';
import { libEntry } from '../lib/built.mjs';
import { decorateClass, decorateMethod, paramTypes } from '../lib/decorate.mjs';
import { PAYLOAD } from '../lib/payload.mjs';

export const SLOW_HANDLER_MS = 5;
export const STAMPEDE_HANDLER_MS = 100;
/** Longer than a whole run (~17 min; 10 min was not, once the run grew: the last Express hit rounds saw their entry expire): the hit cases measure hits only. */
const TTL_MS = 3_600_000;

let runs = 0;

/**
 * A controller class whose `item` and `stampede` handlers carry `cacheDecorators` (none for the
 * uncached apps), plus the counter route (never cached).
 */
function makeController({ slow, cacheDecorators = [] }) {
  class ItemController {
    item() {
      runs++;
      return slow ? sleep(SLOW_HANDLER_MS).then(() => PAYLOAD) : PAYLOAD;
    }
    async stampede(id) {
      runs++;
      await sleep(STAMPEDE_HANDLER_MS);
      return { ...PAYLOAD, id };
    }
  }
  decorateMethod(ItemController, 'item', ...cacheDecorators, Get('item'));
  decorateMethod(ItemController, 'stampede', ...cacheDecorators, Get('stampede/:id'));
  Param('id')(ItemController.prototype, 'stampede', 0);
  Reflect.defineMetadata('design:paramtypes', [String], ItemController.prototype, 'stampede');
  paramTypes(ItemController);
  decorateClass(ItemController, Controller());
  return ItemController;
}

class RunsController {
  runs() {
    return { runs };
  }
}
decorateMethod(RunsController, 'runs', Get('__runs'));
decorateClass(RunsController, Controller());

function rootModule({ imports = [], controller }) {
  class AppModule {}
  decorateClass(AppModule, Module({ imports, controllers: [controller, RunsController] }));
  return AppModule;
}

/** Answers every request itself, without calling the handler: what any interceptor-based cache hit costs at least. */
class AnswerInterceptor {
  intercept() {
    return of(PAYLOAD);
  }
}
decorateClass(AnswerInterceptor, Injectable());

/** Lets every request through: the cost of an authorization guard, without its work. */
class AllowGuard {
  canActivate() {
    return true;
  }
}
decorateClass(AllowGuard, Injectable());

/** `guarded: true` adds AllowGuard to the cached routes (guards keep hits in Nest's pipeline). */
const guards = (guarded) => (guarded ? [UseGuards(AllowGuard)] : []);

export const apps = {
  /** The limit: the handler returns a constant. */
  async constant() {
    return rootModule({ controller: makeController({ slow: false }) });
  },

  /** No Nest route for /item: server.mjs registers it on the platform instance (`platformRoute: true`, the floor of a hit inside a Nest app). */
  async platformRoute() {
    class NoItemController {}
    decorateClass(NoItemController, Controller());
    return rootModule({ controller: NoItemController });
  },

  /** The floor of an interceptor cache hit: an interceptor that returns the payload (no lookup, no key, no handler). */
  async interceptorFloor() {
    return rootModule({ controller: makeController({ slow: true, cacheDecorators: [UseInterceptors(AnswerInterceptor)] }) });
  },

  /** What caching saves: a handler that takes 5 ms (an indexed query, a small remote call). */
  async slow() {
    return rootModule({ controller: makeController({ slow: true }) });
  },

  /** @nestjs/cache-manager's CacheInterceptor in front of the 5 ms handler (memory = cache-manager's default Keyv Map; redis = @keyv/redis). */
  async nestCacheManager({ store, redisUrl, guarded }) {
    const { CacheModule, CacheInterceptor } = await import('@nestjs/cache-manager');
    const stores = [];
    if (store === 'redis') {
      const { default: KeyvRedis } = await import('@keyv/redis');
      stores.push(new KeyvRedis(redisUrl));
    }
    return rootModule({
      imports: [CacheModule.register({ ttl: TTL_MS, ...(stores.length > 0 ? { stores } : {}) })],
      controller: makeController({ slow: true, cacheDecorators: [...guards(guarded), UseInterceptors(CacheInterceptor)] }),
    });
  },

  /**
   * nestjs-tenant-cache, the BUILT package (dist/, by its own name), `@Cached()` on the 5 ms handler.
   * `fastPath: false` serves hits from the interceptor; `guarded: true` puts a guard on the route;
   * `headerGuard` is passed to the module; `constantHandler: true` caches the constant handler;
   * `memory` replaces the memory store's options (the tenant-scaling rows need room for 100,000 tenants).
   */
  async ours({ store, redisUrl, tenantContext, fastPath, guarded, headerGuard, constantHandler, memory = { maxEntries: 10_000 } }) {
    const { CacheModule, Cached, fromHeader } = await libEntry();
    const storeConfig =
      store === 'redis' ? { type: 'redis', url: redisUrl } : store === 'tiered' ? { type: 'tiered', l1: { maxEntries: 10_000 }, l2: { url: redisUrl } } : { type: 'memory', ...memory };
    const optional = { tenantContext, fastPath, headerGuard };
    for (const key of Object.keys(optional)) if (optional[key] === undefined) delete optional[key];
    return rootModule({
      imports: [CacheModule.forRoot({ store: storeConfig, tenant: fromHeader('x-tenant-id'), ...optional })],
      // `constantHandler`: the miss cases measure the cache's own cost on a miss, not a 5 ms handler.
      controller: makeController({ slow: constantHandler !== true, cacheDecorators: [...guards(guarded), Cached({ ttl: TTL_MS })] }),
    });
  },
};
