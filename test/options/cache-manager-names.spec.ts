import { describe, expect, it } from 'vitest';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { resolveModuleOptions } from '../../lib/options/module-options.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';

/** The error `CacheManager.createSync(options)` throws. */
function errorOf(options: Record<string, unknown>): CacheConfigError {
  try {
    void CacheManager.createSync({ logger: false, ...options } as never).close();
  } catch (err) {
    expect(err).toBeInstanceOf(CacheConfigError);
    return err as CacheConfigError;
  }
  throw new Error('expected a CacheConfigError');
}

describe('names from @nestjs/cache-manager get a pointed fix', () => {
  it('ttl → defaultTtl, with the unit', () => {
    const err = errorOf({ ttl: 60 });
    expect(err.option).toBe('ttl');
    expect(err.message).toBe(
      "Invalid option \"ttl\": not an option of this library. Fix: rename it to defaultTtl. A number is milliseconds (as in cache-manager v5+; v4 took seconds), or use a duration string such as '5m'",
    );
  });

  it('max → store.maxEntries', () => {
    expect(errorOf({ max: 100 }).message).toContain("Fix: set the entry bound on the store: store: { type: 'memory', maxEntries: 10_000 }");
  });

  it('stores (Keyv stores) → how to configure Redis here', () => {
    const err = errorOf({ stores: [{}] });
    expect(err.option).toBe('stores');
    expect(err.message).toContain("store: { type: 'redis', url: 'redis://localhost:6379' } (needs the ioredis package)");
  });

  it('store: redisStore (a store factory function) → how to configure Redis here', () => {
    const redisStore = async () => ({});
    const err = errorOf({ store: redisStore });
    expect(err.option).toBe('store');
    expect(err.message).toContain('a function (such as a cache-manager store factory like redisStore) is not a store here');
    expect(err.message).toContain("configure Redis here with store: { type: 'redis', url: 'redis://localhost:6379' }");
  });

  it("store: 'memory' (cache-manager v4) → store: { type: 'memory' }", () => {
    expect(errorOf({ store: 'memory' }).message).toContain("Fix: write store: { type: 'memory' }");
  });

  it('a Keyv-like store object → not a CacheStore', () => {
    const keyv = { get: () => undefined, set: () => true };
    const err = errorOf({ store: keyv });
    expect(err.option).toBe('store.type');
    expect(err.message).toContain('this object has get() but is not a CacheStore');
  });

  it('isCacheableValue → there is no value filter, and what to do instead', () => {
    const err = errorOf({ isCacheableValue: () => true });
    expect(err.option).toBe('isCacheableValue');
    expect(err.message).toContain('remove it: there is no value filter');
    expect(err.message).toContain('condition');
  });

  it('Redis connection fields at the store level (cache-manager-redis-store) → options or url', () => {
    const err = errorOf({ store: { type: 'redis', host: 'localhost', port: 6379 } });
    expect(err.option).toBe('store.host');
    expect(err.message).toContain("pass them in options: { host, port, password, db } (ioredis options), or as url: 'redis://user:pass@host:6379/0'");
  });

  it('ttl inside a store config → defaultTtl on the cache', () => {
    expect(errorOf({ store: { type: 'memory', ttl: 5 } }).message).toContain('TTLs are not a store option: set defaultTtl on the cache');
  });

  it('isGlobal inside a forRootAsync factory result → an option of the call', () => {
    let err: unknown;
    try {
      resolveModuleOptions({ tenant: fromHeader('x'), isGlobal: true } as unknown as CacheModuleOptions);
    } catch (e) {
      err = e;
    }
    expect((err as CacheConfigError).option).toBe('isGlobal');
    expect((err as Error).message).toContain('CacheModule.forRootAsync({ isGlobal: true, useFactory');
  });

  it('a redis config with createSync() points at create()', () => {
    const err = errorOf({ store: { type: 'redis', url: 'redis://127.0.0.1:1' } });
    expect(err.message).toContain('use `await CacheManager.create(options)`');
  });
});
