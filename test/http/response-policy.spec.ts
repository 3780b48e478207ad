import { describe, expect, it } from 'vitest';
import type { HttpResponseLike } from '../../lib/http/platform-response.js';
import { isOriginBoundWithoutVary, isReplayable, matchesVary, recordedHeaders, variedHeaders } from '../../lib/http/response-policy.js';
import { resolveModuleOptions } from '../../lib/options/module-options.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';

const policy = resolveModuleOptions({ tenant: fromHeader('x-tenant-id'), logger: false });
const withWildcard = resolveModuleOptions({ tenant: fromHeader('x-tenant-id'), logger: false, cacheableHeaders: ['content-type', 'x-*'] });

function response(headers: Record<string, unknown>): HttpResponseLike {
  return { statusCode: 200, getHeader: (name) => headers[name], getHeaders: () => headers };
}

describe('recordedHeaders', () => {
  it('keeps allowlisted handler-set headers and the Content-Type; lists the dropped ones a user may want to hear about', () => {
    const res = response({
      'content-type': 'application/json',
      'content-security-policy': "default-src 'self'",
      'x-foo': 'secret',
      'x-request-id': 'r1',
      'x-ratelimit-remaining': '3',
      etag: '"e"',
      'set-cookie': 'a=b',
      'x-powered-by': 'Express',
    });
    const { headers, dropped } = recordedHeaders(res, { 'x-powered-by': 'Express' }, policy);
    expect(headers).toEqual([
      ['content-type', 'application/json'],
      ['content-security-policy', "default-src 'self'"],
    ]);
    // x-request-id and x-ratelimit-remaining are per-request and not allowlisted: dropped without a word.
    expect(dropped).toEqual([{ name: 'x-foo', reason: 'not cacheable' }]);
  });

  it('a per-request header the allowlist matches is dropped and listed as per-request', () => {
    const { headers, dropped } = recordedHeaders(response({ 'x-request-id': 'r1', 'x-api-version': '7' }), {}, withWildcard);
    expect(headers).toEqual([['x-api-version', '7']]);
    expect(dropped).toEqual([{ name: 'x-request-id', reason: 'per-request' }]);
  });

  it('a header set before the handler ran is neither recorded nor listed (unless it describes the response)', () => {
    const before = { 'x-foo': 'same', vary: 'Origin' };
    const { headers, dropped } = recordedHeaders(response({ 'x-foo': 'same', vary: 'Origin' }), before, policy);
    expect(headers).toEqual([['vary', 'Origin']]);
    expect(dropped).toBeUndefined();
  });
});

describe('isReplayable', () => {
  it('what the current policy allows, whatever an older entry holds', () => {
    expect(isReplayable('content-type', policy)).toBe(true);
    expect(isReplayable('strict-transport-security', policy)).toBe(true);
    expect(isReplayable('x-request-user', policy)).toBe(false);
    expect(isReplayable('x-ratelimit-remaining', withWildcard)).toBe(false);
    expect(isReplayable('x-api-version', withWildcard)).toBe(true);
    expect(isReplayable('set-cookie', withWildcard)).toBe(false);
  });
});

describe('isOriginBoundWithoutVary', () => {
  const acao = (value: string): [string, string][] => [['access-control-allow-origin', value]];
  it('one named origin needs Vary: Origin or the route keyed on origin; * and no ACAO do not', () => {
    expect(isOriginBoundWithoutVary(acao('https://a.example'), undefined, [])).toBe(true);
    expect(isOriginBoundWithoutVary(acao('null'), [['accept', null]], ['accept'])).toBe(true);
    expect(isOriginBoundWithoutVary(acao('https://a.example'), [['origin', 'https://a.example']], [])).toBe(false);
    expect(isOriginBoundWithoutVary(acao('https://a.example'), undefined, ['accept', 'origin'])).toBe(false);
    expect(isOriginBoundWithoutVary(acao(' * '), undefined, [])).toBe(false);
    expect(isOriginBoundWithoutVary([['content-type', 'text/plain']], undefined, [])).toBe(false);
  });
});

describe('variedHeaders and matchesVary', () => {
  const credentials = ['authorization', 'cookie'];
  it('stores a credential header a response varies on as a digest, never the token, and matches only the same token', () => {
    const vary = variedHeaders(response({ vary: 'Authorization, Accept' }), { authorization: 'Bearer alice-token', accept: 'text/html' }, credentials)!;
    const stored = JSON.stringify(vary);
    console.log(`[vary digest] stored ${stored}`);
    expect(stored).not.toContain('alice-token');
    expect(vary).toContainEqual(['accept', 'text/html']);
    expect(matchesVary(vary, { authorization: 'Bearer alice-token', accept: 'text/html' })).toBe(true);
    expect(matchesVary(vary, { authorization: 'Bearer bob-token', accept: 'text/html' })).toBe(false);
    expect(matchesVary(vary, { accept: 'text/html' })).toBe(false);
    // The stored digest itself, sent as the header, is not the token.
    const digest = vary.find(([name]) => name === 'authorization')![1]!;
    expect(matchesVary(vary, { authorization: digest, accept: 'text/html' })).toBe(false);
  });

  it('keeps other headers as sent, and an absent credential header as null', () => {
    const vary = variedHeaders(response({ vary: 'cookie, x-foo' }), { 'x-foo': 'a' }, credentials)!;
    expect(vary).toEqual([['cookie', null], ['x-foo', 'a']]);
    expect(matchesVary(vary, { 'x-foo': 'a' })).toBe(true);
    expect(matchesVary(vary, { 'x-foo': 'a', cookie: 's=1' })).toBe(false);
  });
});
