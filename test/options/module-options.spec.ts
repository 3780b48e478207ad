import { resolveManagerOptions } from '../../lib/options/manager-options.js';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PER_REQUEST_HEADERS, defaultUserId, resolveModuleOptions } from '../../lib/options/module-options.js';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import type { CacheModuleOptions } from '../../lib/options/cache-module-options.interface.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';

const tenant = fromHeader('x-tenant-id');

describe('resolveModuleOptions', () => {
  it('applies the defaults', () => {
    const resolved = resolveModuleOptions({ tenant });
    expect(resolved.onMissingTenant).toBe('bypass');
    expect(resolved.keyVersion).toBe('1');
    expect(resolved.vary).toEqual(['accept', 'accept-language']);
    expect(resolveManagerOptions({}).invalidationRetry).toEqual({ backoffMs: 200, maxBackoffMs: 30_000, maxPending: 10_000, maxEntryLifetimeMs: undefined, random: Math.random });
    expect(resolved.userId).toBe(defaultUserId);
    expect(resolved.cacheableHeaders('content-type')).toBe(true);
    expect(resolved.cacheableHeaders('content-security-policy')).toBe(true);
    expect(resolved.cacheableHeaders('access-control-allow-origin')).toBe(true);
    // No x-* wildcard: a custom header may be about the request (a user, a rate limit).
    expect(resolved.cacheableHeaders('x-anything')).toBe(false);
    expect(resolved.cacheableHeaders('x-request-user')).toBe(false);
    expect(resolved.cacheableHeaders('server-timing')).toBe(false);
    expect(resolved.cacheableHeaders('set-cookie')).toBe(false);
    expect(resolved.perRequestHeaders('x-request-id')).toBe(true);
    expect(resolved.perRequestHeaders('x-ratelimit-remaining')).toBe(true);
    expect(resolved.perRequestHeaders('traceparent')).toBe(true);
    expect(resolved.perRequestHeaders('content-type')).toBe(false);
    expect(resolved.credentialHeaders).toEqual(['authorization', 'proxy-authorization', 'cookie', 'x-api-key', 'x-auth-token']);
  });

  it('lowercases and deduplicates credentialHeaders, a list that replaces the default', () => {
    expect(resolveModuleOptions({ tenant, credentialHeaders: ['X-Session', 'x-session', 'Cookie'] }).credentialHeaders).toEqual(['x-session', 'cookie']);
    expect(resolveModuleOptions({ tenant, credentialHeaders: [] }).credentialHeaders).toEqual([]);
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

  it('perRequestHeaders: a list that replaces the default, case-insensitive, with prefixes', () => {
    const extended = resolveModuleOptions({ tenant, perRequestHeaders: [...DEFAULT_PER_REQUEST_HEADERS, 'X-Request-User', 'X-Quota-*'] }).perRequestHeaders;
    expect(extended('x-request-user')).toBe(true);
    expect(extended('x-quota-left')).toBe(true);
    expect(extended('x-request-id')).toBe(true);
    expect(extended('x-other')).toBe(false);
    const none = resolveModuleOptions({ tenant, perRequestHeaders: [] }).perRequestHeaders;
    expect(none('x-request-id')).toBe(false);
  });

  it('a bad perRequestHeaders fails with the option and how to extend the default', () => {
    expect(() => resolveModuleOptions({ tenant, perRequestHeaders: 'x-request-id' } as unknown as CacheModuleOptions)).toThrow(/perRequestHeaders.*\[\.\.\.DEFAULT_PER_REQUEST_HEADERS, 'x-request-user'\]/s);
  });

  it('names the option and a fix in every error', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ tenant, onMissingTenant: 'deny' }, 'onMissingTenant'],
      [{ tenant, keyVersion: 3 }, 'keyVersion'],
      [{ tenant, keyVersion: 'x'.repeat(65) }, 'keyVersion'],
      [{ tenant, vary: 'accept' }, 'vary'],
      [{ tenant, cacheableHeaders: ['bad header'] }, 'cacheableHeaders'],
      [{ tenant, perRequestHeaders: 'x-request-id' }, 'perRequestHeaders'],
      [{ tenant, perRequestHeaders: ['x request id'] }, 'perRequestHeaders'],
      [{ tenant, perRequestHeaders: ['*'] }, 'perRequestHeaders'],
      [{ tenant, perRequestHeaders: [42] }, 'perRequestHeaders'],
      [{ tenant, credentialHeaders: 'x-api-key' }, 'credentialHeaders'],
      [{ tenant, credentialHeaders: ['x api key'] }, 'credentialHeaders'],
      [{ tenant, userId: 'id' }, 'userId'],
      [{ tenant, invalidationRetry: { retries: 5 } }, 'invalidationRetry.retries'],
      [{ tenant, invalidationRetry: { backoff: 0 } }, 'invalidationRetry.backoff'],
      [{ tenant, invalidationRetry: { maxBackoff: '100ms' } }, 'invalidationRetry.maxBackoff'],
      [{ tenant, invalidationRetry: { maxBackoff: 'soon' } }, 'invalidationRetry.maxBackoff'],
      [{ tenant, invalidationRetry: { maxPending: 0 } }, 'invalidationRetry.maxPending'],
      [{ tenant, invalidationRetry: { maxPending: 1.5 } }, 'invalidationRetry.maxPending'],
      [{ tenant, invalidationRetry: { maxEntryLifetime: -1 } }, 'invalidationRetry.maxEntryLifetime'],
      [{ tenant, invalidationRetry: { random: 0.5 } }, 'invalidationRetry.random'],
      [{ tenant, invalidationRetry: 5 }, 'invalidationRetry'],
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
