import { afterAll, beforeAll, vi, type MockInstance } from 'vitest';
import { CachedInterceptor } from '../../../lib/http/cached.interceptor.js';
import { PLATFORMS, type Platform, type TestApp } from './app-factory.js';

/**
 * Every HTTP suite runs on both platforms, with the fast path on and off:
 * `describe.each(FAST_PATH_MATRIX)('… on %s, fast path %s', (platform, mode) => { const fastPath = mode === 'on'; … })`.
 */
export const FAST_PATH_MATRIX: readonly (readonly [Platform, 'on' | 'off'])[] = PLATFORMS.flatMap((platform) => [
  [platform, 'on'] as const,
  [platform, 'off'] as const,
]);

/** The request header `InterceptorProbe.sawProbe()` looks for. */
export const PROBE_HEADER = 'x-test-probe';

/**
 * Watches `CachedInterceptor.prototype.intercept` for the whole file: a hit served by the fast
 * path never enters Nest's pipeline, so the interceptor does not see it; a hit served by the
 * interceptor does. The two questions a test asks: how many requests has this app's interceptor
 * handled (`count`), and did it handle the request carrying this probe (`sawProbe`).
 *
 * A counting interceptor of the app's own could not tell the two apart: registered after ours
 * (`app.useGlobalInterceptors()`), it never runs on a hit of either kind; registered before, it
 * keeps every hit off the fast path.
 */
export class InterceptorProbe {
  private spy: MockInstance<CachedInterceptor['intercept']> | undefined;

  /** Installs the spy for the file's tests (call once, at the top of the file). */
  static install(): InterceptorProbe {
    const probe = new InterceptorProbe();
    beforeAll(() => {
      probe.spy = vi.spyOn(CachedInterceptor.prototype, 'intercept');
    });
    afterAll(() => probe.spy?.mockRestore());
    return probe;
  }

  /** How many requests the app's CachedInterceptor has handled so far. */
  count(t: TestApp): number {
    const interceptor = t.app.get(CachedInterceptor);
    return this.calls().contexts.filter((c) => c === interceptor).length;
  }

  /** Whether the app's CachedInterceptor handled a request whose `PROBE_HEADER` was `probe`. */
  sawProbe(t: TestApp, probe: string): boolean {
    const interceptor = t.app.get(CachedInterceptor);
    const { calls, contexts } = this.calls();
    return calls.some(([context], i) => contexts[i] === interceptor && context.switchToHttp().getRequest<{ headers: Record<string, unknown> }>().headers[PROBE_HEADER] === probe);
  }

  private calls(): MockInstance<CachedInterceptor['intercept']>['mock'] {
    if (this.spy === undefined) throw new Error('InterceptorProbe.install() must be called at the top of the test file');
    return this.spy.mock;
  }
}
