import { type CallHandler, Controller, type ExecutionContext, Get, Injectable, Module, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { map, type Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { createTestApp, RecordingLogger, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX, InterceptorProbe } from './helpers/fast-path-probe.js';

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

const interceptor = InterceptorProbe.install();

describe.each(FAST_PATH_MATRIX)('global interceptor order on %s, fast path %s', (platform, mode) => {
  const fastPath = mode === 'on';
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('warns at start-up about a global interceptor registered before CachedInterceptor', async () => {
    const logger = new RecordingLogger();
    @Module({
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger, fastPath })],
      controllers: [OrderController],
      providers: [{ provide: APP_INTERCEPTOR, useClass: EnvelopeInterceptor }],
    })
    class RootFirstModule {}
    t = await createTestApp(platform, { imports: [RootFirstModule] });
    expect(logger.warnings.some((w) => w.includes('EnvelopeInterceptor') && w.includes('before CachedInterceptor'))).toBe(true);
    // It wraps ours, so a hit stays in Nest's pipeline, fast path or not, and replays what the miss sent.
    const miss = await t.http().get('/o').set('x-tenant-id', 'acme');
    const seen = interceptor.count(t);
    const hit = await t.http().get('/o').set('x-tenant-id', 'acme');
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.text).toBe(miss.text);
    expect(interceptor.count(t) - seen).toBe(1);
  });

  it('a transforming interceptor in a module imported after CacheModule runs inside it: miss and hit agree, no warning', async () => {
    const logger = new RecordingLogger();
    @Module({ imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), logger, fastPath }), EnvelopeModule], controllers: [OrderController] })
    class CacheFirstModule {}
    t = await createTestApp(platform, { imports: [CacheFirstModule] });
    const miss = await t.http().get('/o').set('x-tenant-id', 'acme');
    const seen = interceptor.count(t);
    const hit = await t.http().get('/o').set('x-tenant-id', 'acme');
    expect(miss.body).toEqual({ data: { ok: true } });
    expect(hit.headers['x-cache']).toBe('HIT');
    expect(hit.body).toEqual({ data: { ok: true } });
    // Ours is the first interceptor: with the fast path on, the hit (what the envelope made) skips the pipeline.
    expect(interceptor.count(t) - seen).toBe(fastPath ? 0 : 1);
    expect(logger.warnings.filter((w) => w.includes('before CachedInterceptor'))).toEqual([]);
  });
});
