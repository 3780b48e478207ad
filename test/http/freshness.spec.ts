import { describe, expect, it } from 'vitest';
import { parseCacheControl, responseFreshness, withRemainingFreshness } from '../../lib/http/freshness.js';

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
