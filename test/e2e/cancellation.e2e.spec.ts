import { Controller, Get, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { timeout } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { createTestApp, PLATFORMS, type TestApp } from './helpers/app-factory.js';

/**
 * A request abandoned while its cache read is still pending (an outer interceptor's timeout,
 * a client that went away) must not leave a computation registered that nobody runs: later
 * requests for the same key would wait on it forever.
 */
let runs = 0;

@Controller('slow-store')
class SlowStoreController {
  @Get()
  @Cached({ ttl: '1m' })
  value() {
    runs++;
    return { ok: true };
  }
}

/** An app-wide timeout, registered before CacheModule's interceptor, so it wraps ours. */
@Injectable()
class TimeoutInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(timeout(50));
  }
}

describe.each(PLATFORMS)('an abandoned lookup on %s', (platform) => {
  let t: TestApp;
  let store: ChaosStore;
  beforeEach(async () => {
    runs = 0;
    // No getSync: lookups take the asynchronous path, as with Redis.
    store = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
    t = await createTestApp(platform, {
      providers: [{ provide: APP_INTERCEPTOR, useClass: TimeoutInterceptor }],
      imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store, logger: false, circuitBreaker: false })],
      controllers: [SlowStoreController],
    });
  });
  afterEach(async () => {
    store.release();
    await t.close();
  });

  it('does not make later requests for the key wait forever', async () => {
    store.hold(); // the cache read of the first request hangs past the app's timeout
    const first = await fetch(`${t.url}/slow-store`, { headers: { 'x-tenant-id': 'acme' } });
    expect(first.status).toBe(500); // the outer timeout answered
    store.release(); // the abandoned lookup now completes, with nobody subscribed to its result
    const second = await fetch(`${t.url}/slow-store`, { headers: { 'x-tenant-id': 'acme' } });
    expect(second.status).toBe(200);
    expect(second.headers.get('x-cache')).toBe('MISS');
    expect(runs).toBe(1);
    const third = await fetch(`${t.url}/slow-store`, { headers: { 'x-tenant-id': 'acme' } });
    expect(third.headers.get('x-cache')).toBe('HIT');
  });
});
