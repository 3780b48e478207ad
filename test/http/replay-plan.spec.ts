import { describe, expect, it } from 'vitest';
import { replayPlanOf } from '../../lib/http/replay-plan.js';
import { resolveModuleOptions } from '../../lib/options/module-options.js';
import { fromHeader } from '../../lib/tenant/tenant-strategies.js';

/** The per-entry replay plan: what it keeps must never make a hit say something stale. */
describe('replay plan', () => {
  const policy = resolveModuleOptions({ tenant: fromHeader('x-tenant-id') });
  const entry = {
    http: {
      status: 200,
      etag: '"e"',
      headers: [
        ['content-type', 'application/json'],
        ['cache-control', 'public, max-age=600'],
        ['x-internal', 'no'],
        ['expires', 'Thu, 01 Jan 2037 00:00:00 GMT'],
        ['cache-control', 's-maxage=900'],
        ['last-modified', 'Wed, 01 Jan 2025 00:00:00 GMT'],
      ] as [string, string][],
    },
  };

  it('is made once per entry and policy, and keeps only the headers the policy replays, in order', () => {
    const plan = replayPlanOf(entry, policy);
    expect(replayPlanOf(entry, policy)).toBe(plan);
    expect(replayPlanOf(entry, resolveModuleOptions({ tenant: fromHeader('x-tenant-id') }))).not.toBe(plan);
    expect(plan.names).toEqual(['content-type', 'cache-control', 'expires', 'cache-control', 'last-modified']);
    expect(plan.lastModified).toBe('Wed, 01 Jan 2025 00:00:00 GMT');
  });

  it('rewrites each time-dependent header for the lifetime and second asked, never reusing another one', () => {
    const plan = replayPlanOf(entry, policy);
    const now = Date.UTC(2030, 0, 1, 12, 0, 0, 500);
    expect(plan.value(1, 100, now)).toBe('public, max-age=100');
    expect(plan.value(3, 100, now)).toBe('s-maxage=100');
    expect(plan.value(1, 100, now)).toBe('public, max-age=100');
    expect(plan.value(1, 99, now)).toBe('public, max-age=99');
    expect(plan.value(1, 700, now)).toBe('public, max-age=600');
    expect(plan.value(2, 100, now)).toBe(new Date(now + 100_000).toUTCString());
    expect(plan.value(2, 100, now + 600)).toBe(new Date(now + 600 + 100_000).toUTCString());
    expect(plan.value(2, 100, now + 600)).not.toBe(plan.value(2, 100, now - 1_000));
    expect(plan.value(1, undefined, now)).toBe('public, max-age=600');
    expect(plan.age(0)).toBe('0');
    expect(plan.age(61)).toBe('61');
  });
});
