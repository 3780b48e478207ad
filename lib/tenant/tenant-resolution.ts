import type { ExecutionContext, Type } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import { MAX_TENANT_ID_LENGTH } from '../keys/storage-key.js';
import { CacheConfigError } from '../errors/cache.errors.js';
import type { CacheRequest, TenantResolver, TenantResolverFn, TenantStrategy } from './tenant-resolver.interface.js';

/** Reports a resolver failure (the manager logs it once per burst and counts it). */
export type TenantFailureReporter = (kind: string, message: string) => void;

function isResolverClass(strategy: unknown): strategy is Type<TenantResolver> {
  return typeof strategy === 'function' && typeof (strategy as { prototype?: { resolve?: unknown } }).prototype?.resolve === 'function';
}

function isResolverInstance(strategy: unknown): strategy is TenantResolver {
  return typeof strategy === 'object' && strategy !== null && typeof (strategy as TenantResolver).resolve === 'function';
}

/** Checks the shape of a strategy at start-up (before any class is instantiated). */
export function assertTenantStrategy(strategy: unknown, option = 'tenant'): asserts strategy is TenantStrategy {
  if (strategy === undefined || strategy === null) {
    throw new CacheConfigError(option, 'it is required', "say how the tenant of a request is found: fromHeader('x-tenant-id'), fromSubdomain(), fromUser('tenantId'), a function (req) => id, or a TenantResolver class");
  }
  if (typeof strategy !== 'function' && !isResolverInstance(strategy)) {
    throw new CacheConfigError(option, `expected a function, a TenantResolver or a TenantResolver class, got ${typeof strategy}`, "use fromHeader('x-tenant-id') or (req) => id");
  }
}

/**
 * Turns a strategy into one function. A `TenantResolver` class becomes a singleton: the
 * instance the app already provides if there is one (`moduleRef.get`, non-strict), otherwise
 * one created with its dependencies (`moduleRef.create`).
 */
export async function normalizeTenantStrategy(strategy: TenantStrategy, moduleRef: ModuleRef): Promise<TenantResolverFn> {
  if (isResolverClass(strategy)) {
    let instance: TenantResolver;
    try {
      instance = moduleRef.get(strategy, { strict: false });
    } catch {
      try {
        instance = await moduleRef.create(strategy);
      } catch (err) {
        throw new CacheConfigError(
          'tenant',
          `the TenantResolver class ${strategy.name} could not be instantiated (${(err as Error)?.message ?? String(err)})`,
          'make its dependencies available to CacheModule: import their module in forRootAsync({ imports }) or make it global',
          { cause: err },
        );
      }
    }
    return (req, context) => instance.resolve(req, context);
  }
  if (isResolverInstance(strategy)) return (req, context) => strategy.resolve(req, context);
  return strategy as TenantResolverFn;
}

/**
 * Resolves and validates the tenant of a request. Synchronous resolvers stay synchronous (no
 * promise on the hot path). A resolver that throws or rejects, and an id that is not a
 * non-empty string of at most 256 characters, give `undefined` ("no tenant") and are reported.
 */
export function resolveTenant(resolver: TenantResolverFn, req: CacheRequest, context: ExecutionContext | undefined, report: TenantFailureReporter): string | undefined | Promise<string | undefined> {
  let result: ReturnType<TenantResolverFn>;
  try {
    result = resolver(req, context);
  } catch (err) {
    reportThrow(report, err);
    return undefined;
  }
  if (typeof result === 'string') {
    if (result.length > 0 && result.length <= MAX_TENANT_ID_LENGTH) return result;
    return invalid(report, result);
  }
  if (result === undefined || result === null) return undefined;
  if (typeof (result as Promise<unknown>).then === 'function') {
    return (result as Promise<string | undefined>).then(
      (id) => (id === undefined || id === null ? undefined : typeof id === 'string' && id.length > 0 && id.length <= MAX_TENANT_ID_LENGTH ? id : invalid(report, id)),
      (err: unknown) => {
        reportThrow(report, err);
        return undefined;
      },
    );
  }
  return invalid(report, result);
}

function reportThrow(report: TenantFailureReporter, err: unknown): void {
  const name = err instanceof Error ? err.name : typeof err;
  report('tenant resolver', `The tenant resolver threw (${name}); the request is treated as having no tenant.`);
}

function invalid(report: TenantFailureReporter, id: unknown): undefined {
  const what = typeof id === 'string' ? (id.length === 0 ? 'an empty id' : `an id of ${id.length} characters (over ${MAX_TENANT_ID_LENGTH})`) : `a ${typeof id}`;
  report('tenant resolver', `The tenant resolver returned ${what}; the request is treated as having no tenant.`);
  return undefined;
}
