import { Controller, Get, Put } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';

/** The boot of a real Nest app (compile, then init, where routes are scanned); resolves what it threw. */
async function bootError(options: Record<string, unknown>, controllers: unknown[] = []): Promise<unknown> {
  try {
    const moduleRef = await Test.createTestingModule({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, ...options } as CacheModuleOptions)],
      controllers: controllers as never[],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    try {
      await app.init();
    } finally {
      await app.close();
    }
  } catch (err) {
    return err;
  }
  return undefined;
}

async function createError(options: Record<string, unknown>): Promise<unknown> {
  return CacheManager.create({ logger: false, ...options } as never).then(
    async (manager) => {
      await manager.close();
      return undefined;
    },
    (err: unknown) => err,
  );
}

/** [level, options, the option path, the whole message] */
const LEVELS: [string, Record<string, unknown>, string, string][] = [
  ['top level', { defaultTll: '5m' }, 'defaultTll', 'Invalid option "defaultTll": unknown option. Fix: did you mean "defaultTtl"?'],
  ['store (memory)', { store: { type: 'memory', maxEntrys: 5 } }, 'store.maxEntrys', 'Invalid option "store.maxEntrys": unknown option. Fix: did you mean "store.maxEntries"?'],
  [
    'store (redis)',
    { store: { type: 'redis', url: 'redis://127.0.0.1:1', commandTimout: 5 } },
    'store.commandTimout',
    'Invalid option "store.commandTimout": unknown option. Fix: did you mean "store.commandTimeout"?',
  ],
  [
    'store.limits',
    { store: { type: 'redis', url: 'redis://127.0.0.1:1', limits: { maxDept: 4 } } },
    'store.limits.maxDept',
    'Invalid option "store.limits.maxDept": unknown option. Fix: did you mean "store.limits.maxDepth"?',
  ],
  [
    'store.cluster',
    { store: { type: 'redis', cluster: { node: [{ host: '127.0.0.1', port: 1 }] } } },
    'store.cluster.node',
    'Invalid option "store.cluster.node": unknown option. Fix: did you mean "store.cluster.nodes"?',
  ],
  ['store.l1 (tiered)', { store: { type: 'tiered', l1: { maxEntrys: 5 }, l2: { url: 'redis://127.0.0.1:1' } } }, 'store.l1.maxEntrys', 'Invalid option "store.l1.maxEntrys": unknown option. Fix: did you mean "store.l1.maxEntries"?'],
  [
    'store.l2 (tiered)',
    { store: { type: 'tiered', l2: { url: 'redis://127.0.0.1:1', commandTimout: 5 } } },
    'store.l2.commandTimout',
    'Invalid option "store.l2.commandTimout": unknown option. Fix: did you mean "store.l2.commandTimeout"?',
  ],
  [
    'store.bus (tiered)',
    { store: { type: 'tiered', l2: { url: 'redis://127.0.0.1:1' }, bus: { maxStalenes: '1s' } } },
    'store.bus.maxStalenes',
    'Invalid option "store.bus.maxStalenes": unknown option. Fix: did you mean "store.bus.maxStaleness"?',
  ],
  [
    'tenantStores',
    { tenantStores: { factory: () => undefined, maxOpn: 3 } },
    'tenantStores.maxOpn',
    'Invalid option "tenantStores.maxOpn": unknown option. Fix: did you mean "tenantStores.maxOpen"?',
  ],
  [
    'circuitBreaker',
    { circuitBreaker: { failureTreshold: 3 } },
    'circuitBreaker.failureTreshold',
    'Invalid option "circuitBreaker.failureTreshold": unknown option. Fix: did you mean "circuitBreaker.failureThreshold"?',
  ],
  [
    'telemetry',
    { telemetry: { tenantAtribute: 'none' } },
    'telemetry.tenantAtribute',
    'Invalid option "telemetry.tenantAtribute": unknown option. Fix: did you mean "telemetry.tenantAttribute"?',
  ],
];

describe('a misspelt option fails with its path and the closest name', () => {
  it.each(LEVELS)('%s, through CacheManager.create()', async (_level, options, option, message) => {
    const err = await createError(options);
    expect(err).toBeInstanceOf(CacheConfigError);
    expect((err as CacheConfigError).option).toBe(option);
    expect((err as Error).message).toBe(message);
  });

  it.each(LEVELS)('%s, through a Nest app boot', async (_level, options, option, message) => {
    const err = await bootError(options);
    expect(err).toBeInstanceOf(CacheConfigError);
    expect((err as CacheConfigError).option).toBe(option);
    expect((err as Error).message).toBe(message);
  });

  it('a bad store.maxTenantShare fails the Nest boot, naming it and the fix', async () => {
    const err = await bootError({ store: { type: 'memory', maxTenantShare: 25 } });
    expect(err).toBeInstanceOf(CacheConfigError);
    expect((err as CacheConfigError).option).toBe('store.maxTenantShare');
    expect((err as Error).message).toBe('Invalid option "store.maxTenantShare": expected a fraction of the store, 0 < share <= 1, got 25. Fix: write a percentage as a fraction: 0.25 for 25%');
  });

  it('invalidationRetry (a module option), through a Nest app boot', async () => {
    const err = await bootError({ invalidationRetry: { maxPendng: 2 } });
    expect((err as Error).message).toBe('Invalid option "invalidationRetry.maxPendng": unknown option. Fix: did you mean "invalidationRetry.maxPending"?');
  });

  it('invalidationRetry.retries (removed) gets a pointed fix, through a Nest app boot', async () => {
    const err = await bootError({ invalidationRetry: { retries: 5 } });
    expect((err as Error).message).toMatch(/^Invalid option "invalidationRetry\.retries": not an option of this library\. Fix: remove it: a failed invalidation is no longer given up/);
  });

  it('@Cached() options, through a Nest app boot', async () => {
    @Controller('p')
    class ProductsController {
      @Get()
      @Cached({ tll: '30s' } as never)
      list() {
        return [];
      }
    }
    const err = await bootError({}, [ProductsController]);
    expect(err).toBeInstanceOf(CacheConfigError);
    expect((err as CacheConfigError).option).toBe('@Cached() on ProductsController.list: tll');
    expect((err as Error).message).toBe('Invalid option "@Cached() on ProductsController.list: tll": unknown option. Fix: did you mean "ttl"?');
  });

  it('@InvalidateTags() options, through a Nest app boot', async () => {
    @Controller('p')
    class ProductsController {
      @Put()
      @InvalidateTags(['products'], { scpe: 'global' } as never)
      update() {
        return 'ok';
      }
    }
    const err = await bootError({}, [ProductsController]);
    expect((err as Error).message).toBe('Invalid option "@InvalidateTags() on ProductsController.update: scpe": unknown option. Fix: did you mean "scope"?');
  });

  it('lists the known names when none is close', async () => {
    const err = await createError({ circuitBreaker: { retries: 3 } });
    expect((err as Error).message).toBe('Invalid option "circuitBreaker.retries": unknown option. Fix: remove it; the options here are failureThreshold, cooldown');
  });

  it('does not check a CacheStore instance, only configs', async () => {
    const store = new MemoryStore();
    const manager = await CacheManager.create({ store, logger: false });
    expect(manager.store).toBe(store);
    await manager.close();
  });

  it('checks values too, naming the path', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ store: { type: 'memory', maxEntries: -1 } }, 'store.maxEntries'],
      [{ store: { type: 'memory', sweepInterval: 'often' } }, 'store.sweepInterval'],
      [{ store: { type: 'memory', maxTenantShare: 0 } }, 'store.maxTenantShare'],
      [{ store: { type: 'redis', url: 'redis://127.0.0.1:1', commandTimeout: 0 } }, 'store.commandTimeout'],
      [{ store: { type: 'redis', url: 'redis://127.0.0.1:1', limits: { maxDepth: 1.5 } } }, 'store.limits.maxDepth'],
      [{ store: { type: 'redis', url: 'redis://127.0.0.1:1', codec: 'xml' } }, 'store.codec'],
      [{ store: { type: 'redis' } }, 'store'],
      [{ store: { type: 'Redis', url: 'redis://127.0.0.1:1' } }, 'store.type'],
      [{ store: { maxEntries: 5 } }, 'store.type'],
      [{ tenantStores: { factory: () => undefined, idleTimeout: 'later' } }, 'tenantStores.idleTimeout'],
      [{ circuitBreaker: { cooldown: -5 } }, 'circuitBreaker.cooldown'],
      [{ circuitBreaker: null }, 'circuitBreaker'],
      [{ telemetry: { maxTenantLabels: 0 } }, 'telemetry.maxTenantLabels'],
      [{ telemetry: { name: '' } }, 'telemetry.name'],
      [{ errorBurst: 'a while' }, 'errorBurst'],
    ];
    for (const [options, option] of cases) {
      const err = await createError(options);
      expect(err, JSON.stringify(options)).toBeInstanceOf(CacheConfigError);
      expect((err as CacheConfigError).option, JSON.stringify(options)).toBe(option);
      expect((err as Error).message).toMatch(/Fix: \S/);
    }
  });

  it("suggests the store type for a near miss ('Redis' → 'redis')", async () => {
    const err = await createError({ store: { type: 'memroy' } });
    expect((err as Error).message).toBe('Invalid option "store.type": unknown store type "memroy". Fix: did you mean \'memory\'?');
  });
});
