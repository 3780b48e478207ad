import { Controller, Get, Res } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import { defaultUserId, resolveModuleOptions } from '../../lib/options/module-options.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import { NoCache } from '../../lib/decorators/no-cache.decorator.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { RouteRegistry } from '../../lib/http/route-registry.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';

const tenant = fromHeader('x-tenant-id');

describe('resolveModuleOptions', () => {
  it('applies the defaults', () => {
    const resolved = resolveModuleOptions({ tenant });
    expect(resolved.onMissingTenant).toBe('bypass');
    expect(resolved.keyVersion).toBe('1');
    expect(resolved.vary).toEqual(['accept', 'accept-language']);
    expect(resolved.invalidationRetry).toEqual({ retries: 5, backoffMs: 200 });
    expect(resolved.userId).toBe(defaultUserId);
    expect(resolved.cacheableHeaders('content-type')).toBe(true);
    expect(resolved.cacheableHeaders('x-anything')).toBe(true);
    expect(resolved.cacheableHeaders('server-timing')).toBe(false);
    expect(resolved.cacheableHeaders('set-cookie')).toBe(false);
  });

  it('passes only the manager options to the manager, on a copy', () => {
    const options: CacheModuleOptions = { tenant, namespace: 'app', keyVersion: '3', vary: ['X-B', 'x-a', 'x-b'] };
    const resolved = resolveModuleOptions(options);
    expect(resolved.manager).toEqual({ namespace: 'app', logger: resolved.logger });
    expect(resolved.vary).toEqual(['x-a', 'x-b']);
    expect(options.vary).toEqual(['X-B', 'x-a', 'x-b']);
    expect(options.keyVersion).toBe('3');
  });

  it('never allows set-cookie, even when listed; honours prefixes', () => {
    const allow = resolveModuleOptions({ tenant, cacheableHeaders: ['Set-Cookie', 'X-Api-*', 'ETag'] }).cacheableHeaders;
    expect(allow('set-cookie')).toBe(false);
    expect(allow('x-api-version')).toBe(true);
    expect(allow('x-other')).toBe(false);
    expect(allow('etag')).toBe(true);
  });

  it('names the option and a fix in every error', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ tenant, onMissingTenant: 'deny' }, 'onMissingTenant'],
      [{ tenant, keyVersion: 3 }, 'keyVersion'],
      [{ tenant, keyVersion: 'x'.repeat(65) }, 'keyVersion'],
      [{ tenant, vary: 'accept' }, 'vary'],
      [{ tenant, cacheableHeaders: ['bad header'] }, 'cacheableHeaders'],
      [{ tenant, userId: 'id' }, 'userId'],
      [{ tenant, invalidationRetry: { retries: 1.5 } }, 'invalidationRetry.retries'],
      [{ tenant, invalidationRetry: { backof: 1 } }, 'invalidationRetry.backof'],
      [{ tenant, invalidationRetry: { backoff: -1 } }, 'invalidationRetry.backoff'],
      [{ tenant, Vary: [] }, 'Vary'],
      [{ tenant: 'x-tenant-id' }, 'tenant'],
    ];
    for (const [options, option] of cases) {
      let error: unknown;
      try {
        resolveModuleOptions(options as unknown as CacheModuleOptions);
      } catch (err) {
        error = err;
      }
      expect(error, option).toBeInstanceOf(CacheConfigError);
      expect((error as CacheConfigError).option, JSON.stringify(options)).toBe(option);
      expect((error as Error).message).toMatch(/Fix: \S/);
    }
  });

  it('suggests the right spelling of a mistyped option', () => {
    expect(() => resolveModuleOptions({ tenant, Vary: [] } as unknown as CacheModuleOptions)).toThrow(/did you mean "vary"/);
  });
});

describe('defaultUserId', () => {
  it('reads req.user.id, then req.user.sub, as a string', () => {
    expect(defaultUserId({ headers: {}, user: { id: 'u1', sub: 's1' } })).toBe('u1');
    expect(defaultUserId({ headers: {}, user: { sub: 's1' } })).toBe('s1');
    expect(defaultUserId({ headers: {}, user: { id: 7 } })).toBe('7');
    expect(defaultUserId({ headers: {}, user: { id: '' } })).toBeUndefined();
    expect(defaultUserId({ headers: {} })).toBeUndefined();
  });
});

describe('RouteRegistry', () => {
  @Controller('x')
  @Cached({ ttl: '1m', vary: ['X-Class'], scope: 'tenant' })
  class SampleController {
    @Get('a')
    a() {}

    @Get('b')
    @Cached({ ttl: 5000, vary: ['X-Handler'], methods: ['get', 'HEAD', 'post'] })
    b() {}

    @Get('c')
    @NoCache()
    c() {}

    @Get('d')
    @NoCache()
    @InvalidateTags(['t'], { scope: 'global' })
    d() {}

    @Get('e')
    e(@Res() _res: unknown) {}

    @Get('f')
    f(@Res({ passthrough: true }) _res: unknown) {}

    helper() {}
  }

  const registry = () => new RouteRegistry(resolveModuleOptions({ tenant }), new Reflector(), undefined);

  it('merges class and handler options, handler first, and adds the module vary', () => {
    const r = registry();
    const a = r.lookup(SampleController, SampleController.prototype.a)!.cached!;
    expect(a).toMatchObject({ controller: 'SampleController', handler: 'a', ttlMs: 60_000, scope: 'tenant', explicitScope: true, bypass: undefined });
    expect(a.vary).toEqual(['accept', 'accept-language', 'x-class']);
    expect([...a.methods]).toEqual(['GET', 'HEAD']);
    const b = r.lookup(SampleController, SampleController.prototype.b)!.cached!;
    expect(b.ttlMs).toBe(5000);
    expect(b.vary).toEqual(['accept', 'accept-language', 'x-handler']);
    expect([...b.methods]).toEqual(['GET', 'HEAD', 'POST']);
  });

  it('@NoCache() leaves no cache metadata; @InvalidateTags() is kept', () => {
    const r = registry();
    expect(r.lookup(SampleController, SampleController.prototype.c)).toBeNull();
    expect(r.lookup(SampleController, SampleController.prototype.d)).toMatchObject({ cached: undefined, invalidate: { tags: ['t'], scope: 'global' } });
  });

  it('marks @Res() handlers as bypassed, but not @Res({ passthrough: true })', () => {
    const r = registry();
    expect(r.lookup(SampleController, SampleController.prototype.e)!.cached!.bypass).toMatch(/@Res\(\)/);
    expect(r.lookup(SampleController, SampleController.prototype.f)!.cached!.bypass).toBeUndefined();
  });

  it('scans every route once at start-up and warns about the ones that cannot be cached', () => {
    const warnings: string[] = [];
    const r = new RouteRegistry(resolveModuleOptions({ tenant }), new Reflector(), { warn: (m) => warnings.push(m), error: () => undefined });
    r.scan([SampleController]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('SampleController.e');
  });

  it('rejects bad @Cached() options at scan time, naming the route and the option', () => {
    @Controller('bad')
    class BadController {
      @Get()
      @Cached({ tags: 'product' as never })
      get() {}
    }
    expect(() => registry().scan([BadController])).toThrow(/Invalid option "@Cached\(\) on BadController.get: tags"/);

    @Controller('bad2')
    class TypoController {
      @Get()
      @Cached({ tll: 5 } as never)
      get() {}
    }
    expect(() => registry().scan([TypoController])).toThrow(/@Cached\(\) on TypoController.get: tll/);
  });
});
