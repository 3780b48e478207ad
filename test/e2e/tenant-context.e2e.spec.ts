import { type CallHandler, Controller, Dependencies, type ExecutionContext, forwardRef, Get, Global, Inject, Injectable, type MiddlewareConsumer, Module, type NestInterceptor, type NestMiddleware, type NestModule, type Provider, Scope, type Type, UseInterceptors } from '@nestjs/common';
import { ModuleRef, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { CacheManager } from '../../lib/cache/cache-manager.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { TenantRequiredError } from '../../lib/errors/cache.errors.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, PLATFORMS, RecordingLogger, type TestApp } from './helpers/app-factory.js';

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
/** Plain-JS style: `@Dependencies()` instead of parameter types. */
@Injectable()
@Dependencies(forwardRef(() => CacheManager))
class ByDependencies {
  constructor(readonly cache: unknown) {}
}
@Injectable({ scope: Scope.REQUEST })
class ByRequestScoped {
  constructor(readonly cache: CacheManager) {}
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
/** A middleware that hands the manager to handlers on the request. */
@Injectable()
class ManagerMiddleware implements NestMiddleware {
  constructor(readonly cache: CacheManager) {}
  use(_req: unknown, _res: unknown, next: () => void) {
    next();
  }
}
/** Applies the middleware without listing it as a provider (Nest holds it among the module's middleware). */
@Module({})
class MiddlewareModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    consumer.apply(ManagerMiddleware).forRoutes('*');
  }
}
/** A provider of a @Global() module the root module imports. */
@Global()
@Module({ providers: [ByConstructor], exports: [ByConstructor] })
class GlobalReportsModule {}
const byAlias: Provider = { provide: 'CACHE', useExisting: CacheManager };
const byFactory: Provider = { provide: 'REPORTS', useFactory: (cache: CacheManager) => ({ cache }), inject: [CacheManager] };
const byOptionalFactory: Provider = { provide: 'REPORTS', useFactory: (cache?: CacheManager) => ({ cache }), inject: [{ token: CacheManager, optional: true }] };

describe.each(PLATFORMS)('tenantContext on %s', (platform) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const appModule = (tenantContext: boolean | 'auto' | undefined, providers: Provider[], controllers: Type<unknown>[], imports: Type<unknown>[], logger: RecordingLogger | false) => {
    @Module({
      imports: [CacheModule.forRoot({ isGlobal: true, tenant: fromHeader('x-tenant-id'), logger, ...(tenantContext === undefined ? {} : { tenantContext }) }), ...imports],
      controllers: [ContextController, ...controllers],
      providers,
    })
    class AppModule {}
    return AppModule;
  };
  const boot = async (tenantContext: boolean | 'auto' | undefined, providers: Provider[] = [], controllers: Type<unknown>[] = [], imports: Type<unknown>[] = [], logger: RecordingLogger | false = false) => {
    t = await createTestApp(platform, { imports: [appModule(tenantContext, providers, controllers, imports, logger)] });
    return t;
  };

  const read = async (path: 'cached' | 'plain') => {
    const res = await t!.http().get(`/ctx/${path}`).set('x-tenant-id', 'acme');
    expect(res.status).toBe(200);
    return res.body as { tenant: string | null; error: string | null };
  };

  it("'auto' (the default) with nothing injecting CacheManager: handlers run without a context, and current() says why and how to turn it on", async () => {
    await boot(undefined);
    expect(t!.app.get(CacheManager).context.enabled).toBe(false);
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
    ['@Dependencies(forwardRef(() => CacheManager))', [ByDependencies]],
    ['a request-scoped provider', [ByRequestScoped]],
    ['a useExisting alias', [byAlias]],
    ['an inherited constructor', [ByInheritance]],
    ['a factory provider', [byFactory]],
    ['a factory provider with an optional dependency', [byOptionalFactory]],
  ];
  it.each(injectors)("'auto' turns the context on when a provider injects CacheManager through %s", async (_how, providers) => {
    await boot('auto', providers);
    expect(t!.app.get(CacheManager).context.enabled).toBe(true);
    for (const path of ['cached', 'plain'] as const) expect(await read(path)).toEqual({ tenant: 'acme', error: null });
  });

  it("'auto' turns the context on when an interceptor of another controller injects CacheManager", async () => {
    await boot('auto', [], [OtherController]);
    expect(t!.app.get(CacheManager).context.enabled).toBe(true);
    expect(await read('plain')).toEqual({ tenant: 'acme', error: null });
  });

  it("'auto' turns the context on when a middleware injects CacheManager", async () => {
    await boot('auto', [], [], [MiddlewareModule]);
    expect(t!.app.get(CacheManager).context.enabled).toBe(true);
    expect(await read('plain')).toEqual({ tenant: 'acme', error: null });
  });

  it("'auto' turns the context on when a provider of an imported @Global() module injects CacheManager", async () => {
    await boot('auto', [], [], [GlobalReportsModule]);
    expect(t!.app.get(CacheManager).context.enabled).toBe(true);
    expect(await read('plain')).toEqual({ tenant: 'acme', error: null });
  });

  it("'auto' decides the same in an app made by NestFactory.create (not @nestjs/testing), off and on", async () => {
    for (const [providers, on] of [[[], false], [[ByConstructor], true]] as const) {
      const app = await NestFactory.create(appModule('auto', [...providers], [], [], false), platform === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(), { logger: false });
      try {
        await app.listen(0, '127.0.0.1');
        expect(app.get(CacheManager).context.enabled).toBe(on);
        const { port } = (app.getHttpServer() as { address(): AddressInfo }).address();
        const res = await request(`http://127.0.0.1:${port}`).get('/ctx/plain').set('x-tenant-id', 'acme');
        expect(res.body.tenant).toBe(on ? 'acme' : null);
      } finally {
        await app.close();
      }
    }
  });

  it('logs (once per burst) why currentTenantId() finds no tenant when the context is off', async () => {
    const logger = new RecordingLogger();
    await boot(undefined, [], [], [], logger);
    await read('plain');
    await read('plain');
    const lines = logger.warnings.filter((w) => w.includes('currentTenantId() found no tenant'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('set tenantContext: true');
  });

  it('true turns it on with nothing injecting CacheManager', async () => {
    await boot(true);
    expect(t!.app.get(CacheManager).context.enabled).toBe(true);
    for (const path of ['cached', 'plain'] as const) expect(await read(path)).toEqual({ tenant: 'acme', error: null });
  });

  it('false turns it off even when something injects CacheManager, and current() says so', async () => {
    await boot(false, [ByConstructor]);
    expect(t!.app.get(CacheManager).context.enabled).toBe(false);
    const body = await read('plain');
    expect(body.tenant).toBeNull();
    expect(body.error).toContain('tenantContext: false');
  });

  it("rejects any other value at start-up, naming the option and the values it takes", async () => {
    await expect(boot('yes' as never)).rejects.toThrow(/tenantContext.*expected 'auto', true or false/s);
  });
});
