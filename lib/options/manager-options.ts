import { assertNamespace } from '../keys/storage-key.js';
import { CacheConfigError, CacheError } from '../errors/cache.errors.js';
import type { CacheManagerOptions } from './cache-options.interface.js';
import { systemClock, type Clock } from '../utils/clock.js';
import { parseDuration } from '../utils/duration.js';
import type { CacheLogger } from '../utils/error-reporter.js';
import type { TelemetryOptions } from '../observability/cache-telemetry.js';

export const DEFAULT_NAMESPACE = 'ntc';
export const DEFAULT_TTL = '5m';

/** CacheManagerOptions checked and normalised (a copy: the caller's object is never mutated). */
export interface ResolvedManagerOptions {
  namespace: string;
  defaultTtlMs: number;
  maxTrackedTenants: number;
  logger: CacheLogger | undefined;
  errorBurstMs: number;
  clock: Clock;
  telemetry: TelemetryOptions;
  circuitBreaker: { failureThreshold: number; cooldownMs: number } | false;
  invalidationRetry: { retries: number; backoffMs: number };
  tenantStores:
    | { factory: NonNullable<CacheManagerOptions['tenantStores']>['factory']; maxOpen: number; idleMs: number; retryBackoffMs: number; createTimeoutMs: number }
    | undefined;
}

const MANAGER_KEYS = ['store', 'namespace', 'defaultTtl', 'tenantStores', 'maxTrackedTenants', 'logger', 'errorBurst', 'clock', 'telemetry', 'circuitBreaker', 'invalidationRetry'];
const CIRCUIT_KEYS = ['failureThreshold', 'cooldown'];
const TELEMETRY_KEYS = ['tenantAttribute', 'maxTenantLabels', 'name'];
const TENANT_STORE_KEYS = ['factory', 'maxOpen', 'idleTimeout', 'retryBackoff', 'createTimeout'];

const consoleLogger: CacheLogger = {
  warn: (message) => console.warn(`[nestjs-tenant-cache] ${message}`),
  error: (message) => console.error(`[nestjs-tenant-cache] ${message}`),
};

/**
 * Validates options at start-up so a typo fails the boot, not the first request. Every error
 * is a `CacheConfigError` naming the option (`prefix` + name) and the fix. `extraKeys` are
 * options of an outer layer (the Nest module) that are allowed through.
 */
export function resolveManagerOptions(options: CacheManagerOptions, extraKeys: readonly string[] = [], prefix = ''): ResolvedManagerOptions {
  if (options === null || typeof options !== 'object') {
    throw new CacheConfigError(prefix || 'options', `expected an object, got ${options === null ? 'null' : typeof options}`, 'pass an options object such as { store: { type: "memory" } }');
  }
  rejectUnknownKeys(options, [...MANAGER_KEYS, ...extraKeys], prefix);
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  try {
    assertNamespace(namespace);
  } catch (err) {
    throw new CacheConfigError(`${prefix}namespace`, (err as CacheError).message, 'use 1-64 characters of [A-Za-z0-9._-], e.g. "myapp"', { cause: err });
  }
  const tenantStores = options.tenantStores;
  let resolvedTenantStores: ResolvedManagerOptions['tenantStores'];
  if (tenantStores !== undefined) {
    if (tenantStores === null || typeof tenantStores !== 'object') throw new CacheConfigError(`${prefix}tenantStores`, 'expected an object', 'pass { factory: (tenantId) => store }');
    rejectUnknownKeys(tenantStores, TENANT_STORE_KEYS, `${prefix}tenantStores.`);
    if (typeof tenantStores.factory !== 'function') {
      throw new CacheConfigError(`${prefix}tenantStores.factory`, 'expected a function', 'pass (tenantId) => a CacheStore (or undefined for the shared store)');
    }
    resolvedTenantStores = {
      factory: tenantStores.factory,
      maxOpen: positiveInteger(tenantStores.maxOpen, 100, `${prefix}tenantStores.maxOpen`),
      idleMs: duration(tenantStores.idleTimeout, '10m', `${prefix}tenantStores.idleTimeout`),
      retryBackoffMs: duration(tenantStores.retryBackoff, '5s', `${prefix}tenantStores.retryBackoff`),
      createTimeoutMs: duration(tenantStores.createTimeout, '10s', `${prefix}tenantStores.createTimeout`),
    };
  }
  let logger: CacheLogger | undefined = consoleLogger;
  if (options.logger === false) logger = undefined;
  else if (options.logger !== undefined) {
    if (typeof options.logger !== 'object' || options.logger === null || typeof options.logger.warn !== 'function') {
      throw new CacheConfigError(`${prefix}logger`, 'expected an object with warn() and error(), or false', "pass Nest's Logger, console, or false to silence");
    }
    logger = options.logger;
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock !== 'object' || clock === null || typeof clock.now !== 'function') {
    throw new CacheConfigError(`${prefix}clock`, 'expected an object with now()', 'omit it, or pass { now: () => ms }');
  }
  const telemetry = options.telemetry ?? {};
  if (telemetry === null || typeof telemetry !== 'object') throw new CacheConfigError(`${prefix}telemetry`, 'expected an object', "pass { tenantAttribute: 'bounded', maxTenantLabels: 50 } or omit it");
  rejectUnknownKeys(telemetry, TELEMETRY_KEYS, `${prefix}telemetry.`);
  if (telemetry.tenantAttribute !== undefined && telemetry.tenantAttribute !== 'bounded' && telemetry.tenantAttribute !== 'none') {
    throw new CacheConfigError(`${prefix}telemetry.tenantAttribute`, `expected 'bounded' or 'none', got ${JSON.stringify(telemetry.tenantAttribute)}`, "use 'bounded' (default) or 'none'");
  }
  const resolvedTelemetry: TelemetryOptions = { ...telemetry, maxTenantLabels: positiveInteger(telemetry.maxTenantLabels, 50, `${prefix}telemetry.maxTenantLabels`) };
  let circuitBreaker: ResolvedManagerOptions['circuitBreaker'] = { failureThreshold: 5, cooldownMs: 5_000 };
  if (options.circuitBreaker === false) circuitBreaker = false;
  else if (options.circuitBreaker !== undefined) {
    if (options.circuitBreaker === null || typeof options.circuitBreaker !== 'object') throw new CacheConfigError(`${prefix}circuitBreaker`, 'expected an object or false', "pass { failureThreshold: 5, cooldown: '5s' }, false to disable, or omit it");
    rejectUnknownKeys(options.circuitBreaker, CIRCUIT_KEYS, `${prefix}circuitBreaker.`);
    circuitBreaker = {
      failureThreshold: positiveInteger(options.circuitBreaker.failureThreshold, 5, `${prefix}circuitBreaker.failureThreshold`),
      cooldownMs: duration(options.circuitBreaker.cooldown, '5s', `${prefix}circuitBreaker.cooldown`),
    };
  }
  const retry = options.invalidationRetry ?? {};
  if (retry === null || typeof retry !== 'object') throw new CacheConfigError(`${prefix}invalidationRetry`, 'expected an object', "pass { retries: 5, backoff: '200ms' }");
  rejectUnknownKeys(retry, ['retries', 'backoff'], `${prefix}invalidationRetry.`);
  const retries = retry.retries ?? 5;
  if (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0 || retries > 20) {
    throw new CacheConfigError(`${prefix}invalidationRetry.retries`, `expected a whole number from 0 to 20, got ${JSON.stringify(retries)}`, 'omit it for the default (5)');
  }
  return {
    namespace,
    invalidationRetry: { retries, backoffMs: duration(retry.backoff, '200ms', `${prefix}invalidationRetry.backoff`) },
    telemetry: resolvedTelemetry,
    circuitBreaker,
    defaultTtlMs: duration(options.defaultTtl, DEFAULT_TTL, `${prefix}defaultTtl`),
    maxTrackedTenants: positiveInteger(options.maxTrackedTenants, 1000, `${prefix}maxTrackedTenants`),
    logger,
    errorBurstMs: duration(options.errorBurst, '10s', `${prefix}errorBurst`),
    clock,
    tenantStores: resolvedTenantStores,
  };
}

export function rejectUnknownKeys(object: object, allowed: readonly string[], prefix: string): void {
  for (const key of Object.keys(object)) {
    if (allowed.includes(key)) continue;
    const near = allowed.find((k) => k.toLowerCase() === key.toLowerCase());
    throw new CacheConfigError(`${prefix}${key}`, 'unknown option', near ? `did you mean "${prefix}${near}"?` : `remove it; known options are ${allowed.join(', ')}`);
  }
}

export function positiveInteger(value: unknown, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new CacheConfigError(option, `expected a positive integer, got ${JSON.stringify(value)}`, `set a whole number >= 1, or omit it for the default (${fallback})`);
  }
  return value;
}

export function duration(value: unknown, fallback: string | number, option: string): number {
  try {
    return parseDuration((value ?? fallback) as string | number, option);
  } catch (err) {
    throw new CacheConfigError(option, `${JSON.stringify(value)} is not a duration`, "use milliseconds (a number >= 0) or a string such as '500ms', '30s', '5m', '1h'", { cause: err });
  }
}
