import { Controller, Get, Res } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import { resolveModuleOptions } from '../../lib/options/module-options.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { InvalidateTags } from '../../lib/decorators/invalidate-tags.decorator.js';
import { NoCache } from '../../lib/decorators/no-cache.decorator.js';
import { RouteRegistry } from '../../lib/http/route-registry.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';

const tenant = fromHeader('x-tenant-id');

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

  const registry = () => new RouteRegistry(resolveModuleOptions({ tenant, logger: false }), new Reflector());

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
    const r = new RouteRegistry(resolveModuleOptions({ tenant, logger: { warn: (m: string) => warnings.push(m), error: () => undefined } }), new Reflector());
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

describe('@Cached({ keyOnly })', () => {
  const registry = (): RouteRegistry => new RouteRegistry(resolveModuleOptions({ tenant, logger: false }), new Reflector());

  it('is false by default and true with a key', () => {
    @Controller('k')
    class KeyController {
      @Get('a')
      @Cached({ key: 'items', keyOnly: true })
      a() {}

      @Get('b')
      @Cached({ key: 'items' })
      b() {}
    }
    const r = registry();
    r.scan([KeyController]);
    expect(r.lookup(KeyController, KeyController.prototype.a)!.cached!.keyOnly).toBe(true);
    expect(r.lookup(KeyController, KeyController.prototype.b)!.cached!.keyOnly).toBe(false);
  });

  it('refuses keyOnly without a key, or not a boolean, at start-up naming the route and the option', () => {
    @Controller('k2')
    class NoKeyController {
      @Get()
      @Cached({ keyOnly: true })
      a() {}
    }
    @Controller('k3')
    class BadController {
      @Get()
      @Cached({ key: 'x', keyOnly: 'yes' as never })
      a() {}
    }
    expect(() => registry().scan([NoKeyController])).toThrow(/@Cached\(\) on NoKeyController\.a: keyOnly.*needs a key/);
    expect(() => registry().scan([BadController])).toThrow(/@Cached\(\) on BadController\.a: keyOnly/);
  });
});
