import type { KeyScope } from '../keys/storage-key.js';
import { cacheChannels, type CacheEvent, type CacheEventKind } from './cache-channels.js';
import { telemetryApi, type TelemetryAttributes as Attributes, type TelemetryCounter as Counter, type TelemetryHistogram as Histogram, type TelemetryTracer as Tracer } from './otel-api.js';

/** Label of tenants beyond `maxTenantLabels`, and of the global scope. */
export const OTHER_TENANT_LABEL = '(other)';
export const GLOBAL_TENANT_LABEL = '(global)';

/** Defaults of `TelemetryOptions`, stated once. */
export const TELEMETRY_DEFAULTS = Object.freeze({
  tenantAttribute: 'bounded' as 'bounded' | 'none',
  /** Tenants. */
  maxTenantLabels: 50,
  name: 'nestjs-tenant-cache',
});

export interface TelemetryOptions {
  /**
   * Whether metrics carry the tenant as the `cache.tenant` attribute. With `'bounded'` the
   * first `maxTenantLabels` tenants seen get their own label and the rest share `(other)`, so
   * a flood of tenant ids cannot explode metric cardinality.
   * @default TELEMETRY_DEFAULTS.tenantAttribute: 'bounded'
   */
  tenantAttribute?: 'bounded' | 'none';
  /**
   * Tenants labelled individually with `tenantAttribute: 'bounded'`. A positive integer.
   * @default TELEMETRY_DEFAULTS.maxTenantLabels: 50 (tenants)
   */
  maxTenantLabels?: number;
  /**
   * Instrumentation scope name of the meter and tracer. A non-empty string.
   * @default TELEMETRY_DEFAULTS.name: 'nestjs-tenant-cache'
   */
  name?: string;
}

type CounterKind = 'hit' | 'miss' | 'staleServed' | 'bypass' | 'put' | 'eviction' | 'error' | 'stampedeWait';

/**
 * Metrics (OpenTelemetry API), spans and diagnostics_channel events of one CacheManager.
 * Without an OpenTelemetry SDK in the app (or without `@opentelemetry/api`, an optional peer),
 * the API is a no-op and this costs a function call per event; attributes are built once per
 * tenant, never per operation.
 */
export class CacheTelemetry {
  private readonly counters: Record<CounterKind, Counter>;
  /** Store operation latency, milliseconds. */
  readonly storeLatency: Histogram;
  /** Whether `storeLatency` records anything (false without an SDK registered first): untimed, a read skips its two clock reads. */
  readonly timesStore: boolean;
  /** Whether the counters record anything (false without an SDK registered first). */
  private readonly countsMetrics: boolean;
  private readonly circuitTransitions: Counter;
  readonly tracer: Tracer;
  private readonly errorStatus: number;
  private readonly labels = new Map<string, Attributes>();
  private readonly tenantAttribute: 'bounded' | 'none';
  private readonly maxTenantLabels: number;
  private readonly otherAttributes: Attributes = Object.freeze({ 'cache.tenant': OTHER_TENANT_LABEL });
  private readonly noTenantAttributes: Attributes = Object.freeze({});

  constructor(options: TelemetryOptions = {}) {
    const name = options.name ?? TELEMETRY_DEFAULTS.name;
    this.tenantAttribute = options.tenantAttribute ?? TELEMETRY_DEFAULTS.tenantAttribute;
    this.maxTenantLabels = options.maxTenantLabels ?? TELEMETRY_DEFAULTS.maxTenantLabels;
    const api = telemetryApi();
    const meter = api.getMeter(name);
    const counter = (metric: string, description: string) => meter.createCounter(metric, { description, unit: '{operation}' });
    this.counters = {
      hit: counter('cache.hits', 'Reads answered by a fresh entry'),
      miss: counter('cache.misses', 'Reads that found no fresh entry'),
      staleServed: counter('cache.stale_served', 'Stale entries served (stale-while-revalidate or stale-if-error)'),
      bypass: counter('cache.bypasses', 'Requests that did not use the cache (not cacheable, no tenant)'),
      put: counter('cache.puts', 'Entries written'),
      eviction: counter('cache.evictions', 'Entries dropped for room'),
      error: counter('cache.errors', 'Store failures (served as misses or reported to the caller)'),
      stampedeWait: counter('cache.stampede_waits', 'Callers that waited for a computation already in flight instead of running their own'),
    };
    this.storeLatency = meter.createHistogram('cache.store.duration', { description: 'Store operation latency', unit: 'ms' });
    this.timesStore = !api.recordsNothing(this.storeLatency);
    this.countsMetrics = !api.recordsNothing(this.counters.hit);
    this.circuitTransitions = meter.createCounter('cache.circuit.transitions', { description: 'Circuit breaker state changes around the remote store; the attribute cache.circuit.state is the new state', unit: '{transition}' });
    this.tracer = api.getTracer(name);
    this.errorStatus = api.errorStatus;
  }

  /** The metric attributes of a scope, built once and reused (bounded cardinality). */
  attributesFor(scope: KeyScope): Attributes {
    if (this.tenantAttribute === 'none') return this.noTenantAttributes;
    const found = this.labels.get(scope.id);
    if (found !== undefined) return found;
    // The global scope has its own label and does not count against the tenant limit.
    const tenantLabels = this.labels.size - (this.labels.has('g') ? 1 : 0);
    if (!scope.isGlobal && tenantLabels >= this.maxTenantLabels) return this.otherAttributes;
    const attributes = Object.freeze({ 'cache.tenant': scope.tenant ?? GLOBAL_TENANT_LABEL });
    this.labels.set(scope.id, attributes);
    return attributes;
  }

  /** Counts one event and publishes it on its diagnostics channel if anyone listens. */
  record(kind: CounterKind, attributes: Attributes, event?: () => CacheEvent): void {
    if (this.countsMetrics) this.counters[kind].add(1, attributes);
    const ch = cacheChannels[kind as CacheEventKind];
    if (ch.hasSubscribers && event !== undefined) ch.publish(event());
  }

  /** `record('hit', …)`, monomorphic: the one count every hit makes. */
  recordHit(attributes: Attributes, event: () => CacheEvent): void {
    if (this.countsMetrics) this.counters.hit.add(1, attributes);
    const ch = cacheChannels.hit;
    if (ch.hasSubscribers) ch.publish(event());
  }

  /** Records a circuit breaker state change (metric and `circuit` diagnostics event). */
  recordCircuit(state: string, store: string): void {
    this.circuitTransitions.add(1, { 'cache.circuit.state': state, 'cache.store': store });
    if (cacheChannels.circuit.hasSubscribers) cacheChannels.circuit.publish({ tenant: null, state, op: store });
  }

  /** Runs `fn` in a span named `name`; records an exception and error status if it throws. */
  async inSpan<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
    return this.tracer.startActiveSpan(name, { attributes }, async (span) => {
      try {
        return await fn();
      } catch (err) {
        span.recordException(err as Error);
        span.setStatus({ code: this.errorStatus });
        throw err;
      } finally {
        span.end();
      }
    });
  }
}
