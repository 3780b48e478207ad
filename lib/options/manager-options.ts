import { assertNamespace } from '../keys/storage-key.js';
import { CacheConfigError, CacheError } from '../errors/cache.errors.js';
import type { CacheManagerOptions, InvalidationRetryOptions } from './cache-options.interface.js';
import { TELEMETRY_DEFAULTS, type TelemetryOptions } from '../observability/cache-telemetry.js';
import type { CacheStore } from '../stores/cache-store.interface.js';
import type { StoreConfig } from '../stores/store-config.interface.js';
import { systemClock, type Clock } from '../utils/clock.js';
import { consoleLogger, type CacheLogger } from '../utils/error-reporter.js';
import { durationMs, expectOptionsObject, isOptionsObject, kindOf, oneOf, positiveInteger, rejectUnknownKeys } from '../utils/option-checks.js';
import { resolveStoreOption } from './store-options.js';

/** Defaults of `CacheManagerOptions`, stated once (`store` defaults to `{ type: 'memory' }`). */
export const MANAGER_DEFAULTS = Object.freeze({
  namespace: 'ntc',
  /** Milliseconds or a duration string. */
  defaultTtl: '5m',
  /** Tenants. */
  maxTrackedTenants: 1000,
  /** Tenants, per generation (see `activeTenants`). */
  activeTenants: 131_072,
  /** Milliseconds or a duration string. */
  errorBurst: '10s',
  /** Milliseconds or a duration string; 0 = no grace. */
  defaultGrace: 0,
  /** A fraction of the TTL, either way; 0 = none. */
  ttlJitter: 0,
});

/** Defaults of `InvalidationRetryOptions`, stated once (`maxEntryLifetime`: tracked; `random`: `Math.random`). */
export const INVALIDATION_RETRY_DEFAULTS = Object.freeze({
  /** Milliseconds or a duration string. */
  backoff: '200ms',
  /** Milliseconds or a duration string. */
  maxBackoff: '30s',
  /** Pending invalidations (one per tenant and tag, key or clear). */
  maxPending: 10_000,
});

/** Defaults of `TenantStoresOptions`, stated once. */
export const TENANT_STORES_DEFAULTS = Object.freeze({
  /** Stores. */
  maxOpen: 100,
  /** Milliseconds or a duration string; 0 = never. */
  idleTimeout: '10m',
  /** Milliseconds or a duration string. */
  retryBackoff: '5s',
  /** Milliseconds or a duration string; 0 = no bound. */
  createTimeout: '10s',
});

/** Defaults of the `circuitBreaker` option, stated once. */
export const CIRCUIT_BREAKER_DEFAULTS = Object.freeze({
  /** Consecutive outage failures. */
  failureThreshold: 5,
  /** Milliseconds or a duration string: after opening, and between the starts of two probes. */
  cooldown: '500ms',
});

/** CacheManagerOptions checked and normalised (a copy: the caller's object is never mutated). */
export interface ResolvedManagerOptions {
  /** A checked config (a copy) or the instance given. */
  store: CacheStore | StoreConfig;
  namespace: string;
  defaultTtlMs: number;
  defaultGraceMs: number;
  ttlJitter: number;
  maxTrackedTenants: number;
  activeTenants: number;
  /** `undefined` when silenced (`logger: false`). */
  logger: CacheLogger | undefined;
  errorBurstMs: number;
  clock: Clock;
  telemetry: Required<TelemetryOptions>;
  circuitBreaker: { failureThreshold: number; cooldownMs: number } | false;
  tenantStores:
    | { factory: NonNullable<CacheManagerOptions['tenantStores']>['factory']; maxOpen: number; idleMs: number; retryBackoffMs: number; createTimeoutMs: number }
    | undefined;
  invalidationRetry: { backoffMs: number; maxBackoffMs: number; maxPending: number; maxEntryLifetimeMs: number | undefined; random: () => number };
}

export const MANAGER_KEYS: readonly (keyof CacheManagerOptions)[] = ['store', 'namespace', 'defaultTtl', 'defaultGrace', 'ttlJitter', 'tenantStores', 'maxTrackedTenants', 'activeTenants', 'logger', 'errorBurst', 'clock', 'telemetry', 'circuitBreaker', 'invalidationRetry'];
const CIRCUIT_KEYS = Object.keys(CIRCUIT_BREAKER_DEFAULTS);
const TELEMETRY_KEYS = Object.keys(TELEMETRY_DEFAULTS);
const TENANT_STORE_KEYS = ['factory', ...Object.keys(TENANT_STORES_DEFAULTS)];

const REDIS_HOWTO = "store: { type: 'redis', url: 'redis://localhost:6379' } (needs the ioredis package), or store: { type: 'memory', maxEntries: 10_000 }";

/** Options of @nestjs/cache-manager (and cache-manager) that have another name or no place here. */
export const CACHE_MANAGER_HINTS: Readonly<Record<string, string>> = {
  ttl: "rename it to defaultTtl. A number is milliseconds (as in cache-manager v5+; v4 took seconds), or use a duration string such as '5m'",
  max: "set the entry bound on the store: store: { type: 'memory', maxEntries: 10_000 }",
  stores: `this library takes one store (Keyv stores are not used): ${REDIS_HOWTO}`,
  isCacheableValue:
    "remove it: there is no value filter. Every value but undefined is stored (store null instead of undefined); skip set() for values you do not want cached, and on @Cached() routes use condition or answer with Cache-Control: no-store",
  refreshThreshold: "remove it: refresh ahead per call with wrap(key, factory, { eagerRefresh: 0.8 }) (a fraction of the entry's TTL; one background refresh per key across processes), or serve stale while refreshing with { grace, staleWhileRevalidate: true }",
  tenant: "tenant is an option of CacheModule.forRoot(); a CacheManager takes the tenant per call: manager.forTenant(id)",
};

/**
 * Validates options at start-up so a typo fails the boot, not the first request. Every error
 * is a `CacheConfigError` naming the option (`prefix` + its path) and the fix. `extraKeys` are
 * options of an outer layer (the Nest module) that are allowed through; `extraHints` replace
 * hints for names the outer layer knows better.
 */
export function resolveManagerOptions(
  options: CacheManagerOptions,
  extraKeys: readonly string[] = [],
  prefix = '',
  extraHints: Readonly<Record<string, string>> = {},
): ResolvedManagerOptions {
  expectOptionsObject(options as unknown, prefix === '' ? 'options' : prefix.slice(0, -1), 'pass an options object such as { store: { type: "memory" } }');
  rejectUnknownKeys(options, [...MANAGER_KEYS, ...extraKeys], prefix, { ...CACHE_MANAGER_HINTS, ...extraHints });
  const namespace = options.namespace ?? MANAGER_DEFAULTS.namespace;
  try {
    assertNamespace(namespace);
  } catch (err) {
    throw new CacheConfigError(`${prefix}namespace`, (err as CacheError).message, 'use 1-64 characters of [A-Za-z0-9._-], e.g. "myapp"', { cause: err });
  }
  const store = options.store === undefined ? ({ type: 'memory' } as const) : resolveStoreOption(options.store, `${prefix}store`);
  return {
    store,
    namespace,
    defaultTtlMs: durationMs(options.defaultTtl, MANAGER_DEFAULTS.defaultTtl, `${prefix}defaultTtl`),
    defaultGraceMs: durationMs(options.defaultGrace, MANAGER_DEFAULTS.defaultGrace, `${prefix}defaultGrace`),
    ttlJitter: jitterFraction(options.ttlJitter, `${prefix}ttlJitter`),
    maxTrackedTenants: positiveInteger(options.maxTrackedTenants, MANAGER_DEFAULTS.maxTrackedTenants, `${prefix}maxTrackedTenants`),
    activeTenants: positiveInteger(options.activeTenants, MANAGER_DEFAULTS.activeTenants, `${prefix}activeTenants`),
    logger: resolveLogger(options.logger, `${prefix}logger`, consoleLogger),
    errorBurstMs: durationMs(options.errorBurst, MANAGER_DEFAULTS.errorBurst, `${prefix}errorBurst`),
    clock: resolveClock(options.clock, `${prefix}clock`),
    telemetry: resolveTelemetry(options.telemetry, `${prefix}telemetry`),
    circuitBreaker: resolveCircuitBreaker(options.circuitBreaker, `${prefix}circuitBreaker`),
    tenantStores: resolveTenantStores(options.tenantStores, `${prefix}tenantStores`),
    invalidationRetry: resolveInvalidationRetry(options.invalidationRetry, `${prefix}invalidationRetry`),
  };
}

const INVALIDATION_RETRY_KEYS = [...Object.keys(INVALIDATION_RETRY_DEFAULTS), 'maxEntryLifetime', 'random'];
const INVALIDATION_RETRY_HINTS: Readonly<Record<string, string>> = {
  retries:
    'remove it: a failed invalidation is no longer given up after a number of retries; it is retried until it is applied or every entry it covers has expired (maxBackoff caps the delay, maxEntryLifetime says when entries have expired)',
};

function resolveInvalidationRetry(retry: unknown, option: string): ResolvedManagerOptions['invalidationRetry'] {
  const given = retry === undefined ? {} : retry;
  expectOptionsObject(given, option, "pass { backoff: '200ms', maxBackoff: '30s', maxPending: 10_000 } or omit it");
  rejectUnknownKeys(given, INVALIDATION_RETRY_KEYS, `${option}.`, INVALIDATION_RETRY_HINTS);
  const { backoff, maxBackoff, maxPending, maxEntryLifetime, random } = given as InvalidationRetryOptions;
  const backoffMs = durationMs(backoff, INVALIDATION_RETRY_DEFAULTS.backoff, `${option}.backoff`);
  const maxBackoffMs = durationMs(maxBackoff, INVALIDATION_RETRY_DEFAULTS.maxBackoff, `${option}.maxBackoff`);
  // 0 would retry in a loop against a store that is down: every retry waits at least 1 ms.
  if (backoffMs < 1) throw new CacheConfigError(`${option}.backoff`, 'expected at least 1 ms', "use e.g. '200ms', or omit it for the default");
  if (maxBackoffMs < backoffMs) throw new CacheConfigError(`${option}.maxBackoff`, `expected at least backoff (${backoffMs} ms), got ${maxBackoffMs} ms`, "use e.g. '30s', or omit it for the default");
  if (random !== undefined && typeof random !== 'function') throw new CacheConfigError(`${option}.random`, `expected a function, got ${kindOf(random)}`, 'omit it (Math.random), or pass () => a number in [0, 1)');
  return {
    backoffMs,
    maxBackoffMs,
    maxPending: positiveInteger(maxPending, INVALIDATION_RETRY_DEFAULTS.maxPending, `${option}.maxPending`),
    maxEntryLifetimeMs: maxEntryLifetime === undefined ? undefined : durationMs(maxEntryLifetime, 0, `${option}.maxEntryLifetime`),
    random: random ?? Math.random,
  };
}

/** `ttlJitter`: a fraction 0 <= j < 1 (0.1 = ±10%). */
export function jitterFraction(value: unknown, option: string): number {
  if (value === undefined) return MANAGER_DEFAULTS.ttlJitter;
  if (typeof value === 'number' && value >= 0 && value < 1) return value;
  const percent = typeof value === 'number' && value >= 1 && value <= 100;
  throw new CacheConfigError(option, `expected a fraction of the TTL, 0 <= jitter < 1, got ${typeof value === 'number' ? String(value) : kindOf(value)}`, percent ? `write a percentage as a fraction: ${value / 100} for ±${value}%` : 'use e.g. 0.1 to spread expiries by ±10%, or omit it');
}

/** A logger option: `false` silences (`undefined`), omitted gives `fallback`. */
export function resolveLogger(logger: unknown, option: string, fallback: CacheLogger): CacheLogger | undefined {
  if (logger === false) return undefined;
  if (logger === undefined) return fallback;
  if (!isOptionsObject(logger) || typeof logger.warn !== 'function' || typeof logger.error !== 'function') {
    throw new CacheConfigError(option, 'expected an object with warn() and error(), or false', "pass Nest's Logger, console, or false to silence");
  }
  return logger as unknown as CacheLogger;
}

function resolveClock(clock: unknown, option: string): Clock {
  if (clock === undefined) return systemClock;
  if (!isOptionsObject(clock) || typeof clock.now !== 'function') throw new CacheConfigError(option, 'expected an object with now()', 'omit it, or pass { now: () => ms }');
  // Entries carry whole milliseconds (the wire format refuses anything else): a clock giving
  // fractions (performance.timeOrigin + performance.now()) would fail every Redis write.
  const now: unknown = (clock as unknown as Clock).now();
  if (!Number.isSafeInteger(now) || (now as number) < 0) {
    throw new CacheConfigError(option, `now() returned ${typeof now === 'number' ? now : typeof now}, not whole milliseconds since the epoch`, 'return an integer, e.g. { now: () => Math.floor(yourClock.now()) }');
  }
  return clock as unknown as Clock;
}

function resolveTelemetry(telemetry: unknown, option: string): Required<TelemetryOptions> {
  if (telemetry === undefined) return { ...TELEMETRY_DEFAULTS };
  expectOptionsObject(telemetry, option, "pass { tenantAttribute: 'bounded', maxTenantLabels: 50 } or omit it");
  rejectUnknownKeys(telemetry, TELEMETRY_KEYS, `${option}.`);
  const name = telemetry.name ?? TELEMETRY_DEFAULTS.name;
  if (typeof name !== 'string' || name === '') throw new CacheConfigError(`${option}.name`, 'expected a non-empty string', `omit it for the default ('${TELEMETRY_DEFAULTS.name}')`);
  return {
    tenantAttribute: oneOf(telemetry.tenantAttribute, ['bounded', 'none'], TELEMETRY_DEFAULTS.tenantAttribute, `${option}.tenantAttribute`, "use 'bounded' (default) or 'none'"),
    maxTenantLabels: positiveInteger(telemetry.maxTenantLabels, TELEMETRY_DEFAULTS.maxTenantLabels, `${option}.maxTenantLabels`),
    name,
  };
}

function resolveCircuitBreaker(circuitBreaker: unknown, option: string): ResolvedManagerOptions['circuitBreaker'] {
  if (circuitBreaker === false) return false;
  const given = circuitBreaker === undefined ? {} : circuitBreaker;
  expectOptionsObject(given, option, "pass { failureThreshold: 5, cooldown: '500ms' }, false to disable, or omit it");
  rejectUnknownKeys(given, CIRCUIT_KEYS, `${option}.`);
  return {
    failureThreshold: positiveInteger(given.failureThreshold, CIRCUIT_BREAKER_DEFAULTS.failureThreshold, `${option}.failureThreshold`),
    cooldownMs: durationMs(given.cooldown, CIRCUIT_BREAKER_DEFAULTS.cooldown, `${option}.cooldown`),
  };
}

function resolveTenantStores(tenantStores: unknown, option: string): ResolvedManagerOptions['tenantStores'] {
  if (tenantStores === undefined) return undefined;
  expectOptionsObject(tenantStores, option, 'pass { factory: (tenantId) => store }');
  rejectUnknownKeys(tenantStores, TENANT_STORE_KEYS, `${option}.`);
  if (typeof tenantStores.factory !== 'function') {
    throw new CacheConfigError(`${option}.factory`, 'expected a function', 'pass (tenantId) => a CacheStore (or undefined for the shared store)');
  }
  return {
    factory: tenantStores.factory as NonNullable<CacheManagerOptions['tenantStores']>['factory'],
    maxOpen: positiveInteger(tenantStores.maxOpen, TENANT_STORES_DEFAULTS.maxOpen, `${option}.maxOpen`),
    idleMs: durationMs(tenantStores.idleTimeout, TENANT_STORES_DEFAULTS.idleTimeout, `${option}.idleTimeout`),
    retryBackoffMs: durationMs(tenantStores.retryBackoff, TENANT_STORES_DEFAULTS.retryBackoff, `${option}.retryBackoff`),
    createTimeoutMs: durationMs(tenantStores.createTimeout, TENANT_STORES_DEFAULTS.createTimeout, `${option}.createTimeout`),
  };
}
