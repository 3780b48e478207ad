import type { TenantResolverFn } from './tenant-resolver.interface.js';

/**
 * What this package uses of nestjs-cls's `ClsService` (found in the app's container, never
 * imported: nestjs-cls is an optional peer, and the app's own instance is the one whose context
 * its middleware, guard or interceptor opened).
 */
export interface ClsServiceLike {
  /** The whole store without a key (`undefined` outside a context); the value at a dotted path with one. */
  get(key?: string): unknown;
  set(key: string, value: unknown): void;
  isActive(): boolean;
  run<T>(options: { ifNested: 'inherit' }, callback: () => T): T;
}

/** Whether `value` looks like nestjs-cls's `ClsService`. */
export function isClsService(value: unknown): value is ClsServiceLike {
  const cls = value as Partial<ClsServiceLike> | null | undefined;
  return typeof cls === 'object' && cls !== null && typeof cls.get === 'function' && typeof cls.set === 'function' && typeof cls.isActive === 'function' && typeof cls.run === 'function';
}

/** The CLS key the tenant lives under when the strategy is not `fromCls()`. */
export const CLS_TENANT_KEY = 'nestjs-tenant-cache.tenant';

const CLS_STRATEGY = Symbol('nestjs-tenant-cache:cls-strategy');

interface ClsBinding {
  readonly key: string;
  cls: ClsServiceLike | undefined;
}

/**
 * The tenant is a value of the nestjs-cls context, at a key (`fromCls('tenantId')`) the app's
 * CLS setup fills (`ClsModule.forRoot({ middleware: { mount: true, setup: (cls, req) => cls.set('tenantId', …) } })`).
 * It reads no request, so it serves every context: HTTP, GraphQL and message handlers, as long
 * as CLS runs there (its interceptor or guard for non-HTTP contexts). With it, the tenant
 * context of `CacheManager.current()` is CLS's own: no second AsyncLocalStorage. Needs
 * nestjs-cls (an optional peer); CacheModule finds its `ClsService` at start-up and fails the
 * boot without one.
 */
export function fromCls(key: string): TenantResolverFn {
  if (typeof key !== 'string' || key === '') throw new TypeError('fromCls(key): expected the CLS key holding the tenant id, such as "tenantId"');
  const binding: ClsBinding = { key, cls: undefined };
  const resolver: TenantResolverFn = () => {
    const cls = binding.cls;
    if (cls === undefined || !cls.isActive()) return undefined;
    const value = cls.get(key);
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    return value as string | undefined;
  };
  Object.defineProperty(resolver, CLS_STRATEGY, { value: binding });
  Object.defineProperty(resolver, 'name', { value: `fromCls(${key})` });
  return resolver;
}

/** The CLS key of a `fromCls()` strategy, or `undefined` for any other strategy. */
export function clsKeyOf(strategy: unknown): string | undefined {
  return typeof strategy === 'function' ? (strategy as { [CLS_STRATEGY]?: ClsBinding })[CLS_STRATEGY]?.key : undefined;
}

/** Gives a `fromCls()` strategy the app's `ClsService` (at start-up). */
export function bindClsStrategy(strategy: unknown, cls: ClsServiceLike): void {
  const binding = typeof strategy === 'function' ? (strategy as { [CLS_STRATEGY]?: ClsBinding })[CLS_STRATEGY] : undefined;
  if (binding !== undefined) binding.cls = cls;
}
