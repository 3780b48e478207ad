import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { inspect } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { CacheConfigError, UnkeyedHeaderError } from '../../lib/errors/cache.errors.js';
import { DEFAULT_SAFE_HEADERS, HeaderGuard, readableHeaders } from '../../lib/http/header-guard.js';
import { recordHeaderReads } from '../../lib/http/header-reads.js';
import { resolveModuleOptions } from '../../lib/options/module-options.js';
import type { CacheRequest } from '../../lib/tenant/tenant-resolver.interface.js';
import { fromHeader, fromSubdomain } from '../../lib/tenant/tenant-strategies.js';

/** A real Node request object (what Express's `req` and Fastify's `request.raw` are). */
function message(headers: Record<string, string>): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = headers;
  return req;
}

const route = (names: readonly string[]) => ({ controller: 'C', handler: 'm', readableHeaders: new Set(names) });

describe('recordHeaderReads', () => {
  it('records every header name read (present or absent, any case, `in` and hasOwnProperty), and nothing after stop()', () => {
    const req = message({ 'x-a': '1', host: 'h' });
    const original = req.headers;
    const recording = recordHeaderReads(req as unknown as CacheRequest)!;
    expect(req.headers['x-a']).toBe('1');
    expect(req.headers['X-Absent' as 'x']).toBeUndefined();
    expect('x-in' in req.headers).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(req.headers, 'x-own')).toBe(false);
    const reads = recording.stop();
    expect(req.headers).toBe(original); // the request's own object is back
    void req.headers['x-late'];
    expect([...reads.names].sort()).toEqual(['x-a', 'x-absent', 'x-in', 'x-own']);
    expect(reads.enumerated).toBe(false);
  });

  it('counts an enumeration (spread, Object.keys, JSON.stringify) as reading every header', () => {
    for (const enumerate of [(h: object) => ({ ...h }), (h: object) => Object.keys(h), (h: object) => JSON.stringify(h)]) {
      const req = message({ 'x-a': '1' });
      const recording = recordHeaderReads(req as unknown as CacheRequest)!;
      enumerate(req.headers);
      expect(recording.stop().enumerated).toBe(true);
    }
  });

  it('records rawHeaders and headersDistinct reads without defining or deleting a property of the request', () => {
    // An accessor defined on each request, then deleted, changed its shape and left it in
    // dictionary mode: every later property access of Node and the platform paid for it.
    // A bare Node request, and one as Express makes it (two prototypes of its own above Node's).
    const expressProto = Object.create(Object.create(IncomingMessage.prototype) as object) as object;
    let express = false;
    const withRaw = (): IncomingMessage => {
      const req = message({ 'x-a': '1', host: 'h' });
      if (express) Object.setPrototypeOf(req, expressProto);
      req.rawHeaders = ['X-A', '1', 'Host', 'h'];
      // What Node's parser sets with rawHeaders: how many of them headersDistinct is built from.
      const count = Object.getOwnPropertySymbols(req).find((symbol) => symbol.description === 'kHeadersCount')!;
      (req as unknown as Record<symbol, number>)[count] = 4;
      return req;
    };
    const spy = vi.spyOn(Object, 'defineProperty');
    try {
      for (express of [false, true]) {
        // headersDistinct not computed yet: read through the recording, computed on first use.
        const lazy = withRaw();
        const names = Object.getOwnPropertyNames(lazy);
        let recording = recordHeaderReads(lazy as unknown as CacheRequest)!;
        expect(lazy.headersDistinct['x-a']).toEqual(['1']);
        let reads = recording.stop();
        expect([...reads.names]).toEqual(['x-a']);
        expect(reads.enumerated).toBe(false);
        expect(lazy.headersDistinct).toEqual({ 'x-a': ['1'], host: ['h'] });
        expect(Object.getOwnPropertyNames(lazy)).toEqual(names);

        // Computed before: the same object afterwards; rawHeaders read: an enumeration, the same array back.
        const known = withRaw();
        const distinct = known.headersDistinct;
        const raw = known.rawHeaders;
        recording = recordHeaderReads(known as unknown as CacheRequest)!;
        expect(known.rawHeaders.length).toBe(4);
        expect(Object.keys(known.headersDistinct)).toEqual(['x-a', 'host']);
        reads = recording.stop();
        expect(reads.enumerated).toBe(true);
        expect(known.headersDistinct).toBe(distinct);
        expect(known.rawHeaders).toBe(raw);

        // Never read: nothing computed, nothing recorded.
        const idle = withRaw();
        recording = recordHeaderReads(idle as unknown as CacheRequest)!;
        reads = recording.stop();
        expect(reads.names.size).toBe(0);
        expect(reads.enumerated).toBe(false);
        expect(idle.headersDistinct).toEqual({ 'x-a': ['1'], host: ['h'] });
        expect(Object.getOwnPropertyNames(idle)).toEqual(names);

        // What logs show of the headers while recording: the headers, not an empty stand-in.
        recording = recordHeaderReads(idle as unknown as CacheRequest)!;
        expect(inspect(idle.headers)).toContain("'x-a': '1'");
        recording.stop();

        // A view kept past stop() and first read then: computed, but not put back on the request.
        const kept = withRaw();
        recording = recordHeaderReads(kept as unknown as CacheRequest)!;
        const held = kept.headersDistinct;
        recording.stop();
        expect(held.host).toEqual(['h']);
        expect(kept.headersDistinct).not.toBe(held);
        // One the handler assigned while recording stays.
        const assigned = withRaw();
        recording = recordHeaderReads(assigned as unknown as CacheRequest)!;
        const own = { mine: ['1'] };
        assigned.headersDistinct = own;
        recording.stop();
        expect(assigned.headersDistinct).toBe(own);
      }
      const onRequests = spy.mock.calls.filter(([target]) => target instanceof IncomingMessage).length;
      // Each recording defined 2 accessors and put 1 back (deleting the other): counting defines shows it.
      console.log(`[header-reads] properties defined on the request, bare and Express-like: ${onRequests} (before: 3 per recording, 2 accessors and 1 put back, then a delete)`);
      expect(onRequests).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it("reads through Fastify's request.raw and ignores language-level property names", () => {
    const raw = message({ accept: 'a' });
    const recording = recordHeaderReads({ raw, headers: raw.headers } as unknown as CacheRequest)!;
    void raw.headers.accept;
    void (raw.headers as unknown as { toString: unknown }).toString;
    void (raw.headers as unknown as { then: unknown }).then;
    expect([...recording.stop().names]).toEqual(['accept']);
  });
});

describe('HeaderGuard', () => {
  it('returns the unkeyed headers read, sorted, and reports each route and header set once', () => {
    const warnings: string[] = [];
    const guard = new HeaderGuard('warn', { warn: (m) => warnings.push(m), error: () => undefined });
    for (let i = 0; i < 3; i++) {
      const req = message({});
      const recording = guard.start(req as unknown as CacheRequest);
      void req.headers['x-forwarded-host'];
      void req.headers.accept;
      void req.headers.host;
      expect(guard.finish(recording, route(['accept']), [])).toEqual(['host', 'x-forwarded-host']);
    }
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('@Cached() on C.m did not store its response');
    expect(warnings[0]).toContain("@Cached({ vary: ['host', 'x-forwarded-host'] })");
  });

  it("allows the headers the response's own Vary names (its entry is matched on them)", () => {
    const guard = new HeaderGuard('warn', undefined);
    const req = message({});
    const recording = guard.start(req as unknown as CacheRequest);
    void req.headers.origin;
    expect(guard.finish(recording, route([]), ['origin'])).toEqual([]);
  });

  it("advises against keying the client's address (x-forwarded-for): never cache it per tenant", () => {
    const warnings: string[] = [];
    const guard = new HeaderGuard('warn', { warn: (m) => warnings.push(m), error: () => undefined });
    const req = message({});
    const recording = guard.start(req as unknown as CacheRequest);
    void req.headers['x-forwarded-for'];
    guard.finish(recording, route([]), []);
    expect(warnings[0]).toContain('@NoCache()');
    expect(warnings[0]).not.toContain('vary:');
  });

  it("strict: throws UnkeyedHeaderError naming the route, the header and the fix; 'off' records nothing", () => {
    const errors: string[] = [];
    const strict = new HeaderGuard('strict', { warn: () => undefined, error: (m) => errors.push(m) });
    const req = message({});
    const recording = strict.start(req as unknown as CacheRequest);
    void req.headers['x-theme'];
    expect(() => strict.finish(recording, route([]), [])).toThrow(UnkeyedHeaderError);
    expect(errors[0]).toMatch(/C\.m .*x-theme.*vary: \['x-theme'\]/);
    const off = new HeaderGuard('off', undefined);
    expect(off.start(message({}) as unknown as CacheRequest)).toBeUndefined();
    expect(off.finish(undefined, route([]), [])).toEqual([]);
  });
});

describe('readableHeaders', () => {
  const base = { vary: ['accept'], safeHeaders: ['x-request-id'], credentialHeaders: ['authorization'], tenantHeader: 'x-tenant-id' } as const;
  it('holds the safe list, the vary headers, safeHeaders, and the tenant header where the key holds the tenant', () => {
    const tenantRoute = readableHeaders({ ...base, scope: 'tenant', explicitScope: false });
    for (const name of [...DEFAULT_SAFE_HEADERS, 'accept', 'x-request-id', 'x-tenant-id']) expect(tenantRoute.has(name)).toBe(true);
    expect(tenantRoute.has('host')).toBe(false);
    expect(readableHeaders({ ...base, scope: 'global', explicitScope: true }).has('x-tenant-id')).toBe(false);
  });

  it('holds the credential headers only where no request with one is served from the cache, or the key holds the user', () => {
    expect(readableHeaders({ ...base, scope: 'tenant', explicitScope: false }).has('authorization')).toBe(true);
    expect(readableHeaders({ ...base, scope: 'user', explicitScope: true }).has('authorization')).toBe(true);
    expect(readableHeaders({ ...base, scope: 'tenant', explicitScope: true }).has('authorization')).toBe(false);
    expect(readableHeaders({ ...base, scope: 'global', explicitScope: true }).has('authorization')).toBe(false);
    // A userId of one's own may not come from the credentials: then they are unkeyed.
    expect(readableHeaders({ ...base, scope: 'user', explicitScope: true, userFromCredentials: false }).has('authorization')).toBe(false);
  });
});

describe('headerGuard and safeHeaders options', () => {
  const tenant = fromHeader('X-Tenant-Id');
  it("default to 'warn' and [], and know the fromHeader() tenant header (not fromSubdomain()'s host)", () => {
    const resolved = resolveModuleOptions({ tenant });
    expect(resolved.headerGuard).toBe('warn');
    expect(resolved.safeHeaders).toEqual([]);
    expect(resolved.tenantHeader).toBe('x-tenant-id');
    expect(resolveModuleOptions({ tenant: fromSubdomain() }).tenantHeader).toBeUndefined();
    expect(resolveModuleOptions({ tenant, safeHeaders: ['X-Request-Id', 'x-request-id'] }).safeHeaders).toEqual(['x-request-id']);
  });

  it('refuse bad values at start-up, naming the option', () => {
    expect(() => resolveModuleOptions({ tenant, headerGuard: 'loud' as never })).toThrow(CacheConfigError);
    expect(() => resolveModuleOptions({ tenant, headerGuard: 'loud' as never })).toThrow(/headerGuard/);
    expect(() => resolveModuleOptions({ tenant, safeHeaders: 'x-a' as never })).toThrow(/safeHeaders/);
    expect(() => resolveModuleOptions({ tenant, safeHeaders: ['bad header'] })).toThrow(/safeHeaders/);
  });
});
