import { type CallHandler, Controller, type ExecutionContext, Get, Injectable, Module, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { map, type Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, PLATFORMS, RecordingLogger, type TestApp } from './helpers/app-factory.js';

/** A response-transforming global interceptor, like a `{ data }` envelope or ClassSerializerInterceptor. */
@Injectable()
class EnvelopeInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(map((value) => (typeof value === 'object' && value !== null ? { data: value } : value)));
  }
}

@Controller('o')
class OrderController {
  @Get()
  @Cached()
  get() {
    return { ok: true };
  }
}

@Module({ providers: [{ provide: APP_INTERCEPTOR, useClass: EnvelopeInterceptor }] })
class EnvelopeModule {}

describe.each(PLATFORMS)('global interceptor order on %s', (platform) => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('warns at start-up about a global interceptor registered before CachedInterceptor', async () => {
    const logger = new RecordingLogger();
    @Module({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger })],
      controllers: [OrderController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: EnvelopeInterceptor }],
    })
    class RootFirstModule {}
    t = await createTestApp(platform, { imports: [RootFirstModule] });
    expect(logger.warnings.some((w) => w.includes('EnvelopeInterceptor') && w.includes('before CachedInterceptor'))).toBe(true);
  });

  it('a transforming interceptor in a module imported after CacheModule runs inside it: miss and hit agree, no warning', async () => {
    const logger = new RecordingLogger();
    @Module({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger }), EnvelopeModule], controllers: [OrderController] })
    class CacheFirstModule {}
    t = await createTestApp(platform, { imports: [CacheFirstModule] });
    const miss = await t.http().get('/o').set('x-tenant-id', 'acme');
    const hit = await t.http().get('/o').set('x-tenant-id', 'acme');
    expect(miss.body).toEqual({ data: { ok: true } });
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body).toEqual({ data: { ok: true } });
    expect(logger.warnings.filter((w) => w.includes('before CachedInterceptor'))).toEqual([]);
  });
});
