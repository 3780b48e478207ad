import { Controller, Get, Injectable, Module, type CallHandler, type ExecutionContext, type MiddlewareConsumer, type NestInterceptor, type NestMiddleware, type NestModule } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { timeout } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheModule } from '../../lib/cache.module.js';
import { Cached } from '../../lib/decorators/cached.decorator.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';
import { ChaosStore } from '../helpers/chaos.store.js';
import { createTestApp, type Platform, type TestApp } from './helpers/app-factory.js';
import { FAST_PATH_MATRIX, InterceptorProbe } from './helpers/fast-path-probe.js';

/**
 * A request abandoned while its cache read is still pending (an outer interceptor's timeout,
 * a client that went away) must not leave a computation registered that nobody runs: later
 * requests for the same key would wait on it forever.
 */
const runs = new Map<string, number>();
/** Called when the server sees a response closed before it was sent (the client went away). */
let onAbandoned: (() => void) | undefined;

@Controller('slow-store')
class SlowStoreController {
  @Get()
  @Cached({ ttl: '1m' })
  value() {
    return { ok: true, run: runs.set('value', (runs.get('value') ?? 0) + 1).get('value') };
  }
}

/** An app-wide timeout, registered before CacheModule's interceptor, so it wraps ours. */
@Injectable()
class TimeoutInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler) {
    return next.handle().pipe(timeout(50));
  }
}

/** Tells the test when the server has seen a client go away (Nest middleware sees the raw response on both platforms). */
@Injectable()
class AbandonWatch implements NestMiddleware {
  use(_req: unknown, res: { writableEnded: boolean; on(event: 'close', listener: () => void): void }, next: () => void): void {
    res.on('close', () => {
      if (!res.writableEnded) onAbandoned?.();
    });
    next();
  }
}

const interceptor = InterceptorProbe.install();

function boot(platform: Platform, fastPath: boolean, store: ChaosStore, outerTimeout: boolean): Promise<TestApp> {
  @Module({
    imports: [CacheModule.forRoot({ tenant: fromHeader('x-tenant-id'), store, logger: false, circuitBreaker: false, fastPath })],
    controllers: [SlowStoreController],
    providers: outerTimeout ? [{ provide: APP_INTERCEPTOR, useClass: TimeoutInterceptor }] : [],
  })
  class CancellationModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(AbandonWatch).forRoutes('*path');
    }
  }
  return createTestApp(platform, { imports: [CancellationModule] });
}

describe.each(FAST_PATH_MATRIX)('an abandoned lookup on %s, fast path %s', (platform, mode) => {
  const fastPath = mode === 'on';
  let t: TestApp | undefined;
  let store: ChaosStore;
  const get = (tenant: string, signal?: AbortSignal) => fetch(`${t!.url}/slow-store`, { headers: { 'x-tenant-id': tenant }, signal });
  beforeEach(() => {
    runs.clear();
    onAbandoned = undefined;
    // No getSync: lookups take the asynchronous path, as with Redis.
    store = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
  });
  afterEach(async () => {
    store.release();
    await t?.close();
    t = undefined;
  });

  it("behind an outer interceptor's timeout: later requests for the key do not wait forever", async () => {
    t = await boot(platform, fastPath, store, true);
    store.hold(); // the cache read of the first request hangs past the app's timeout
    const first = await get('acme');
    expect(first.status).toBe(500); // the outer timeout answered
    store.release(); // the abandoned lookup now completes, with nobody subscribed to its result
    const second = await get('acme');
    expect(second.status).toBe(200);
    expect(second.headers.get('x-cache')).toBe('MISS');
    expect(runs.get('value')).toBe(1);
    const third = await get('acme');
    expect(third.headers.get('x-cache')).toBe('HIT');
  });

  it('after a client went away during the read (on the fast path when it is on): the key is computed once and served', async () => {
    t = await boot(platform, fastPath, store, false);
    expect((await get('learn')).headers.get('x-cache')).toBe('MISS'); // the route is learned (fast path on)
    const seen = interceptor.count(t);
    const readsBefore = store.calls.get('get') ?? 0;
    store.hold();
    const abandoned = new Promise<void>((resolve) => (onAbandoned = resolve));
    const client = new AbortController();
    const first = get('acme', client.signal).catch((err: unknown) => err);
    while ((store.calls.get('get') ?? 0) === readsBefore) await nextTurn(); // the read is pending
    // With the fast path on, the read was started before Nest's pipeline: the interceptor has not run.
    expect(interceptor.count(t) - seen).toBe(fastPath ? 0 : 1);
    client.abort();
    expect(((await first) as Error).name).toBe('AbortError');
    await abandoned;
    store.release();
    const second = await get('acme');
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({ ok: true, run: 2 }); // 'learn' ran once, acme once
    const third = await get('acme');
    expect(third.headers.get('x-cache')).toBe('HIT');
    expect(runs.get('value')).toBe(2);
  });
});
