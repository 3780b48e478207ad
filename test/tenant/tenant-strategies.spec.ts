import { describe, expect, it } from 'vitest';
import type { CacheRequest } from '../../lib/tenant/tenant-resolver.interface.js';
import { assertTenantStrategy, resolveTenant } from '../../lib/tenant/tenant-resolution.js';
import { fromHeader, fromSubdomain, fromUser } from '../../lib/tenant/tenant-strategies.js';

const req = (headers: Record<string, string | string[]>, extra: Record<string, unknown> = {}): CacheRequest => ({ headers, ...extra });

describe('fromHeader', () => {
  const resolve = fromHeader('X-Tenant-Id');
  it('reads the header case-insensitively and trims it', () => {
    expect(resolve(req({ 'x-tenant-id': ' acme ' }), undefined)).toBe('acme');
    expect(resolve(req({ 'x-tenant-id': ['acme'] }), undefined)).toBe('acme');
  });
  it('gives undefined for a repeated header, as a list or as the string Node joins it into', () => {
    expect(resolve(req({ 'x-tenant-id': ['acme', 'globex'] }), undefined)).toBeUndefined();
    const joined = { 'x-tenant-id': 'acme, globex' };
    const distinct = { 'x-tenant-id': ['acme', 'globex'] };
    expect(resolve(req(joined, { headersDistinct: distinct }), undefined)).toBeUndefined(); // Express
    expect(resolve(req(joined, { raw: { headersDistinct: distinct } }), undefined)).toBeUndefined(); // Fastify
    expect(resolve(req({ 'x-tenant-id': 'acme' }, { headersDistinct: { 'x-tenant-id': ['acme'] } }), undefined)).toBe('acme');
  });
  it('gives undefined for a missing or blank header', () => {
    expect(resolve(req({}), undefined)).toBeUndefined();
    expect(resolve(req({ 'x-tenant-id': '  ' }), undefined)).toBeUndefined();
  });
  it('rejects an empty name', () => {
    expect(() => fromHeader('')).toThrow(TypeError);
  });
});

describe('fromSubdomain', () => {
  const resolve = fromSubdomain();
  const host = (h: string, r = resolve) => r(req({ host: h }), undefined);
  it('takes the leftmost label, lowercased, ignoring the port', () => {
    expect(host('acme.example.com')).toBe('acme');
    expect(host('ACME.Example.com:8443')).toBe('acme');
    expect(host('acme.example.com.')).toBe('acme');
  });
  it("has no tenant for 'www', bare domains, localhost and IP addresses", () => {
    for (const h of ['www.example.com', 'example.com', 'localhost', 'localhost:3000', '127.0.0.1', '10.0.0.1:80', '[::1]:3000', '[2001:db8::1]', '']) {
      expect(host(h), h).toBeUndefined();
    }
  });
  it('with baseDomain, accepts exactly one label more than the base', () => {
    const r = fromSubdomain({ baseDomain: ['example.com', 'localhost'] });
    expect(host('acme.example.com', r)).toBe('acme');
    expect(host('acme.localhost:3000', r)).toBe('acme');
    expect(host('a.b.example.com', r)).toBeUndefined();
    expect(host('acme.example.org', r)).toBeUndefined();
    expect(host('acmeexample.com', r)).toBeUndefined();
    expect(host('example.com', r)).toBeUndefined();
  });
  it('honours ignore and, only when trusted, X-Forwarded-Host', () => {
    expect(host('admin.example.com', fromSubdomain({ ignore: ['admin'] }))).toBeUndefined();
    const forwarded = req({ host: 'internal.lb.local', 'x-forwarded-host': 'acme.example.com, proxy.example.com' });
    expect(fromSubdomain({ trustForwardedHost: true })(forwarded, undefined)).toBe('acme');
    expect(fromSubdomain()(forwarded, undefined)).toBe('internal');
  });
});

describe('fromUser', () => {
  it('reads a dotted path of req.user; strings and finite numbers only', () => {
    expect(fromUser('tenantId')(req({}, { user: { tenantId: 't1' } }), undefined)).toBe('t1');
    expect(fromUser('org.id')(req({}, { user: { org: { id: 42 } } }), undefined)).toBe('42');
    expect(fromUser('org.id')(req({}, { user: { org: null } }), undefined)).toBeUndefined();
    expect(fromUser('org.id')(req({}, {}), undefined)).toBeUndefined();
    expect(fromUser('tenantId')(req({}, { user: { tenantId: { nested: true } } }), undefined)).toBeUndefined();
    expect(fromUser('tenantId')(req({}, { user: { tenantId: Number.NaN } }), undefined)).toBeUndefined();
  });
  it('rejects a malformed path', () => {
    expect(() => fromUser('a..b')).toThrow(TypeError);
    expect(() => fromUser('')).toThrow(TypeError);
  });
});

describe('resolveTenant', () => {
  const reports: string[] = [];
  const report = (_kind: string, message: string) => reports.push(message);

  it('stays synchronous for a synchronous resolver', () => {
    expect(resolveTenant(() => 'acme', req({}), undefined, report)).toBe('acme');
  });
  it('treats an empty, over-long or non-string id, and a throw, as no tenant, and reports it', async () => {
    reports.length = 0;
    expect(resolveTenant(() => '', req({}), undefined, report)).toBeUndefined();
    expect(resolveTenant(() => 'x'.repeat(257), req({}), undefined, report)).toBeUndefined();
    expect(resolveTenant(() => 42 as unknown as string, req({}), undefined, report)).toBeUndefined();
    expect(
      resolveTenant(
        () => {
          throw new Error('secret detail');
        },
        req({}),
        undefined,
        report,
      ),
    ).toBeUndefined();
    await expect(resolveTenant(async () => Promise.reject(new Error('x')), req({}), undefined, report)).resolves.toBeUndefined();
    await expect(resolveTenant(async () => 'x'.repeat(300), req({}), undefined, report)).resolves.toBeUndefined();
    await expect(resolveTenant(async () => 'ok', req({}), undefined, report)).resolves.toBe('ok');
    expect(reports).toHaveLength(6);
    expect(reports.join('\n')).not.toContain('secret detail');
    expect(resolveTenant(() => 'x'.repeat(256), req({}), undefined, report)).toHaveLength(256);
  });
  it('accepts undefined silently', () => {
    reports.length = 0;
    expect(resolveTenant(() => undefined, req({}), undefined, report)).toBeUndefined();
    expect(reports).toHaveLength(0);
  });
});

describe('assertTenantStrategy', () => {
  it('accepts functions, resolver objects and classes; rejects the rest', () => {
    expect(() => assertTenantStrategy(() => 'a')).not.toThrow();
    expect(() => assertTenantStrategy({ resolve: () => 'a' })).not.toThrow();
    expect(() => assertTenantStrategy(undefined)).toThrow(/Invalid option "tenant": it is required/);
    expect(() => assertTenantStrategy('x-tenant-id')).toThrow(/expected a function/);
  });
});
