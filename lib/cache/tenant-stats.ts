import type { KeyScope } from '../keys/storage-key.js';

/** Counters of one tenant (or of all tenants together). */
export interface TenantCounters {
  hits: number;
  misses: number;
  puts: number;
  evictions: number;
  errors: number;
  /** Stale entries served (stale-while-revalidate or stale-if-error). */
  staleServed: number;
  /** Callers that joined a computation already in flight instead of running their own. */
  stampedeWaits: number;
  /** Requests that skipped the cache (not cacheable); counted by the HTTP integration. */
  bypasses: number;
}

export function newCounters(): TenantCounters {
  return { hits: 0, misses: 0, puts: 0, evictions: 0, errors: 0, staleServed: 0, stampedeWaits: 0, bypasses: 0 };
}

/**
 * Per-tenant counters with bounded cardinality: the first `maxTracked` scopes seen get their
 * own counters; the rest share one "other tenants" bucket, so a flood of tenant ids cannot
 * grow memory. Counters are never evicted, so a facade may keep a reference to its own.
 */
export class TenantStatsRegistry {
  readonly total: TenantCounters = newCounters();
  /** Tenants beyond the tracking limit, counted together. */
  readonly other: TenantCounters = newCounters();
  private readonly byScope = new Map<string, { scope: KeyScope; counters: TenantCounters }>();

  constructor(private readonly maxTracked: number) {}

  countersFor(scope: KeyScope): TenantCounters {
    const found = this.byScope.get(scope.id);
    if (found !== undefined) return found.counters;
    // The global scope is always tracked and does not count against the tenant limit.
    if (!scope.isGlobal && this.byScope.size - (this.byScope.has('g') ? 1 : 0) >= this.maxTracked) return this.other;
    const counters = newCounters();
    this.byScope.set(scope.id, { scope, counters });
    return counters;
  }

  /** Counters of a scope if it is tracked (the store observer uses this: it must not add tenants). */
  lookup(scopeId: string): TenantCounters {
    return this.byScope.get(scopeId)?.counters ?? this.other;
  }

  tracked(): IterableIterator<{ scope: KeyScope; counters: TenantCounters }> {
    return this.byScope.values();
  }
}
