import { type CallHandler, Controller, type ExecutionContext, forwardRef, Get, Inject, Injectable, Module, type NestInterceptor, type Provider, type Type, UseInterceptors } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { TenantRequiredError } from '../../lib/errors/cache.errors.js';
import { CacheRuntime } from '../../lib/interceptors/cache-runtime.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, PLATFORMS, type TestApp } from './helpers/app-factory.js';

/**
 * Reads the tenant context the way code that got the manager dynamically would
 * (`moduleRef.get()`): this controller does not inject CacheManager, so it does not, by itself,
 * make `tenantContext: 'auto'` turn the context on.
 */
@Controller('ctx')
class ContextController {
  constructor(private readonly moduleRef: ModuleRef) {}

  @Get('cached')
  @Cached()
  async cached() {
    return this.read();
  }

  @Get('plain')
  async plain() {
    return this.read();
  }

  private async read() {
    const manager = this.moduleRef.get(CacheManager, { strict: false });
    await nextTurn(); // across an async hop, as a service would
    let error: string | null = null;
    try {
      manager.current();
    } catch (err) {
      error = err instanceof TenantRequiredError ? err.message : `unexpected: ${String(err)}`;
    }
    return { tenant: manager.currentTenantId() ?? null, error };
  }
}

/** The ways an app's class can ask Nest for the manager. */
@Injectable()
class ByConstructor {
  constructor(readonly cache: CacheManager) {}
}
@Injectable()
class ByInjectToken {
  constructor(@Inject(CacheManager) readonly cache: unknown) {}
}
@Injectable()
class ByForwardRef {
  constructor(@Inject(forwardRef(() => CacheManager)) readonly cache: unknown) {}
}
@Injectable()
class ByProperty {
  @Inject(CacheManager) readonly cache!: CacheManager;
}
/** Inherits its constructor (and its parameter types) from ByConstructor. */
@Injectable()
class ByInheritance extends ByConstructor {}
/** An interceptor (an "injectable" to Nest, not a provider) that injects the manager. */
@Injectable()
class TenantHeaderInterceptor implements NestInterceptor {
  constructor(readonly cache: CacheManager) {}
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle();
  }
}
@Controller('other')
@UseInterceptors(TenantHeaderInterceptor)
class OtherController {
  @Get()
  get() {
    return {};
  }
}
const byFactory: Provider = { provide: 'REPORTS', useFactory: (cache: CacheManager) => ({ cache }), inject: [CacheManager] };
const byOptionalFactory: Provider = { provide: 'REPORTS', useFactory: (cache?: CacheManager) => ({ cache }), inject: [{ token: CacheManager, optional: true }] };

describe.each(PLATFORMS)('tenantContext on %s', (platform) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const boot = async (tenantContext: boolean | 'auto' | undefined, providers: Provider[] = [], controllers: Type<unknown>[] = []) => {
    @Module({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger: false, ...(tenantContext === undefined ? {} : { tenantContext }) })],
      controllers: [ContextController, ...controllers],
      providers,
    })
    class AppModule {}
    t = await createTestApp(platform, { imports: [AppModule] });
    return t;
  };

  const read = async (path: 'cached' | 'plain') => {
    const res = await t!.http().get(`/ctx/${path}`).set('x-tenant-id', 'acme');
    expect(res.status).toBe(200);
    return res.body as { tenant: string | null; error: string | null };
  };

  it("'auto' (the default) with nothing injecting CacheManager: handlers run without a context, and current() says why and how to turn it on", async () => {
    await boot(undefined);
    expect(t!.app.get(CacheRuntime).tenantContextOn).toBe(false);
    for (const path of ['cached', 'plain'] as const) {
      const body = await read(path);
      expect(body.tenant).toBeNull();
      expect(body.error).toContain("tenantContext is 'auto' and nothing in the app injects CacheManager");
      expect(body.error).toContain('set tenantContext: true');
    }
    // runWithTenant() works in every mode.
    const manager = t!.app.get(CacheManager);
    expect(manager.runWithTenant('globex', () => manager.current().tenantId)).toBe('globex');
  });

  const injectors: [string, Provider[]][] = [
    ['a constructor parameter', [ByConstructor]],
    ['an @Inject(CacheManager) parameter', [ByInjectToken]],
    ['an @Inject(forwardRef(() => CacheManager)) parameter', [ByForwardRef]],
    ['an @Inject() property', [ByProperty]],
    ['an inherited constructor', [ByInheritance]],
    ['a factory provider', [byFactory]],
    ['a factory provider with an optional dependency', [byOptionalFactory]],
  ];
  it.each(injectors)("'auto' turns the context on when a provider injects CacheManager through %s", async (_how, providers) => {
    await boot('auto', providers);
    expect(t!.app.get(CacheRuntime).tenantContextOn).toBe(true);
    for (const path of ['cached', 'plain'] as const) expect(await read(path)).toEqual({ tenant: 'acme', error: null });
  });

  it("'auto' turns the context on when an interceptor of another controller injects CacheManager", async () => {
    await boot('auto', [], [OtherController]);
    expect(t!.app.get(CacheRuntime).tenantContextOn).toBe(true);
    expect(await read('plain')).toEqual({ tenant: 'acme', error: null });
  });

  it('true turns it on with nothing injecting CacheManager', async () => {
    await boot(true);
    for (const path of ['cached', 'plain'] as const) expect(await read(path)).toEqual({ tenant: 'acme', error: null });
  });

  it('false turns it off even when something injects CacheManager, and current() says so', async () => {
    await boot(false, [ByConstructor]);
    const body = await read('plain');
    expect(body.tenant).toBeNull();
    expect(body.error).toContain('tenantContext: false');
  });

  it("rejects any other value at start-up, naming the option and the values it takes", async () => {
    await expect(boot('yes' as never)).rejects.toThrow(/tenantContext.*expected 'auto', true or false/s);
  });
});
