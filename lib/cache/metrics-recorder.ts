import type { KeyScope } from '../keys/storage-key.js';
import type { CacheEvent } from '../observability/cache-channels.js';
import type { CacheTelemetry } from '../observability/cache-telemetry.js';
import type { TelemetryAttributes as Attributes } from '../observability/otel-api.js';
import type { TenantCounters, TenantStatsRegistry } from './tenant-stats.js';

/** A counter of `TenantCounters`, by the name its metric and diagnostics event carry. */
const TELEMETRY_KIND = {
  hits: 'hit',
  misses: 'miss',
  puts: 'put',
  evictions: 'eviction',
  errors: 'error',
  staleServed: 'staleServed',
  stampedeWaits: 'stampedeWait',
  bypasses: 'bypass',
} as const satisfies Record<keyof TenantCounters, string>;

export type CounterField = keyof TenantCounters;

/**
 * The one place a cache event is counted: the tenant's counters, the totals, the OpenTelemetry
 * counter and the diagnostics channel, together. One per manager.
 */
export class MetricsRecorder {
  constructor(
    readonly stats: TenantStatsRegistry,
    readonly telemetry: CacheTelemetry,
  ) {}

  /** The recorder of one scope; attributes are built once, so a count allocates nothing. */
  forScope(scope: KeyScope): ScopeMetrics {
    return new ScopeMetrics(this, scope);
  }

  /** Counts an event that belongs to no (valid) tenant: in the totals only, never in `otherTenants`. */
  countUnscoped(field: CounterField, event: () => CacheEvent): void {
    this.stats.total[field]++;
    this.telemetry.record(TELEMETRY_KIND[field], {}, event);
  }
}

/** Counts and times the operations of one scope. */
export class ScopeMetrics {
  readonly counters: TenantCounters;
  readonly attributes: Attributes;
  /** Whether store latency is recorded (an SDK is there): `storeLatency` is only worth timing then. */
  readonly timesStore: boolean;
  private readonly readAttributes: Attributes;
  private readonly writeAttributes: Attributes;
  private readonly plainEvent: () => CacheEvent;

  constructor(
    private readonly recorder: MetricsRecorder,
    readonly scope: KeyScope,
  ) {
    this.counters = recorder.stats.countersFor(scope);
    this.attributes = recorder.telemetry.attributesFor(scope);
    this.timesStore = recorder.telemetry.timesStore;
    this.readAttributes = { ...this.attributes, 'cache.operation': 'read' };
    this.writeAttributes = { ...this.attributes, 'cache.operation': 'write' };
    const tenant = scope.tenant ?? null;
    this.plainEvent = () => ({ tenant });
  }

  /** `count('hits')` without the lookups by field name: the hit path's one count. */
  countHit(): void {
    this.counters.hits++;
    this.recorder.stats.total.hits++;
    this.recorder.telemetry.recordHit(this.attributes, this.plainEvent);
  }

  count(field: CounterField, event?: () => CacheEvent): void {
    this.counters[field]++;
    this.recorder.stats.total[field]++;
    this.recorder.telemetry.record(TELEMETRY_KIND[field], this.attributes, event ?? this.plainEvent);
  }

  /** Records how long a store call took, in milliseconds. */
  storeLatency(ms: number, operation: 'read' | 'write'): void {
    this.recorder.telemetry.storeLatency.record(ms, operation === 'read' ? this.readAttributes : this.writeAttributes);
  }

  inSpan<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.recorder.telemetry.inSpan(name, this.attributes, fn);
  }
}
