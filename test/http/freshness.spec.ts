import { describe, expect, it } from 'vitest';
import { parseCacheControl, requestDirective, responseFreshness, withRemainingFreshness } from '../../lib/http/freshness.js';

const NOW = Date.UTC(2025, 0, 1);

describe('responseFreshness (RFC 9111 §5.2.2, §5.3)', () => {
  it.each([
    ['no-store', 'Cache-Control: no-store'],
    ['private, max-age=60', 'Cache-Control: private'],
    ['no-cache', 'Cache-Control: no-cache'],
    ['public, no-cache="set-cookie, x-a", max-age=60', 'Cache-Control: no-cache'],
    ['max-age=0', 'stale on arrival'],
    ['s-maxage=0, max-age=60', 'stale on arrival'],
    ['must-revalidate', 'must-revalidate without freshness'],
    ['max-age=1.5', 'invalid max-age'],
    ['max-age', 'invalid max-age'],
    ['max-age="abc', 'unreadable Cache-Control'],
  ])('%s: not stored (%s)', (cc, reason) => {
    expect(responseFreshness(cc, undefined, undefined, NOW)).toEqual({ store: false, reason });
  });

  it('s-maxage over max-age over Expires minus Date (or now)', () => {
    const inAMinute = new Date(NOW + 60_000).toUTCString();
    expect(responseFreshness('max-age=600, s-maxage=5', inAMinute, undefined, NOW)).toEqual({ store: true, lifetimeMs: 5_000, revalidate: true });
    expect(responseFreshness('public, max-age=7', inAMinute, undefined, NOW)).toEqual({ store: true, lifetimeMs: 7_000, revalidate: false });
    expect(responseFreshness(undefined, inAMinute, undefined, NOW)).toEqual({ store: true, lifetimeMs: 60_000, revalidate: false });
    expect(responseFreshness(undefined, inAMinute, new Date(NOW + 30_000).toUTCString(), NOW)).toEqual({ store: true, lifetimeMs: 30_000, revalidate: false });
    expect(responseFreshness(undefined, '0', undefined, NOW)).toEqual({ store: false, reason: 'invalid Expires' });
    expect(responseFreshness(undefined, new Date(NOW).toUTCString(), undefined, NOW)).toEqual({ store: false, reason: 'stale on arrival' });
    expect(responseFreshness('public', undefined, undefined, NOW)).toEqual({ store: true, lifetimeMs: undefined, revalidate: false });
  });

  it('reads repeated directives strictly and tolerates empty list elements', () => {
    expect(parseCacheControl('max-age=60, max-age=5')?.get('max-age')).toBe('5');
    expect(parseCacheControl(' , public,, max-age=3 ,')?.get('max-age')).toBe('3');
  });

  it('rewrites max-age and s-maxage to what is left, never up', () => {
    expect(withRemainingFreshness('public, max-age=60, s-maxage=30', 12)).toBe('public, max-age=12, s-maxage=12');
    expect(withRemainingFreshness('max-age=5', 12)).toBe('max-age=5');
  });
});

describe('requestDirective (RFC 9111 §5.2.1, §5.4)', () => {
  it.each([
    ['no-cache', undefined, 'no-cache'],
    ['No-Cache', undefined, 'no-cache'],
    ['max-age=0', undefined, 'no-cache'],
    ['max-age=0, no-store', undefined, 'no-store'],
    ['no-store', undefined, 'no-store'],
    ['max-age=60', undefined, undefined],
    ['max-stale, min-fresh=5, only-if-cached', undefined, undefined],
    [undefined, 'no-cache', 'no-cache'],
    [undefined, 'x, no-cache', 'no-cache'],
    [undefined, 'no-cacheX', undefined],
    ['max-age=60', 'no-cache', undefined], // Pragma counts only without Cache-Control
    ['"broken', undefined, undefined],
    [undefined, undefined, undefined],
  ] as const)('Cache-Control %s, Pragma %s: %s', (cacheControl, pragma, expected) => {
    expect(requestDirective(cacheControl, pragma)).toBe(expected);
  });
});
