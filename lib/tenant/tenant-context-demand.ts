import { PARAMTYPES_METADATA, PROPERTY_DEPS_METADATA, SELF_DECLARED_DEPS_METADATA } from '@nestjs/common/constants.js';

/** What this needs of Nest's `Module` (from `ModulesContainer`). */
export interface ScannedModule {
  readonly providers: Map<unknown, WrapperLike>;
  readonly controllers: Map<unknown, WrapperLike>;
  readonly injectables: Map<unknown, WrapperLike>;
  readonly middlewares: Map<unknown, WrapperLike>;
}

interface WrapperLike {
  readonly metatype?: unknown;
  readonly inject?: readonly unknown[] | null;
}

/**
 * Whether a class of the app can reach `CacheManager.current()` / `currentTenantId()`: a
 * provider, controller, injectable (guard, interceptor, pipe, filter) or middleware that asks
 * Nest for one of `tokens`, through its constructor (by type, `@Inject()`, `@Dependencies()`,
 * `forwardRef()`), a property (`@Inject()` on a field), or a factory's `inject` list (which is
 * also how Nest holds a `useExisting` alias). Modules for which `skip` is true (the library's
 * own) are not looked at.
 *
 * Why: the tenant context is AsyncLocalStorage, and on Node 20 and 22 using it once makes every
 * promise and callback of the process pay an async hook (about a tenth of a cache hit's
 * throughput, more for promise-heavy handlers). An app that never asks for the manager cannot
 * read the context, so it need not pay.
 */
export function anyClassInjects(modules: Iterable<ScannedModule>, tokens: ReadonlySet<unknown>, skip: (module: ScannedModule) => boolean): boolean {
  for (const module of modules) {
    if (skip(module)) continue;
    for (const map of [module.providers, module.controllers, module.injectables, module.middlewares]) {
      for (const wrapper of map.values()) if (injectsAnyOf(wrapper, tokens)) return true;
    }
  }
  return false;
}

/** Whether one provider, controller, injectable or middleware asks Nest for one of `tokens`. */
function injectsAnyOf(wrapper: WrapperLike, tokens: ReadonlySet<unknown>): boolean {
  const wanted = (dep: unknown): boolean => tokens.has(unwrapForwardRef(dep));
  // A factory provider: its `inject` list (`{ token, optional }` entries allowed).
  if (Array.isArray(wrapper.inject)) return wrapper.inject.some((dep) => wanted(dep) || wanted((dep as { token?: unknown } | null)?.token));
  const type = wrapper.metatype;
  if (typeof type !== 'function') return false;
  const byType = (Reflect.getMetadata(PARAMTYPES_METADATA, type) ?? []) as unknown[];
  if (byType.some(wanted)) return true;
  const declared = (Reflect.getMetadata(SELF_DECLARED_DEPS_METADATA, type) ?? []) as { param?: unknown }[];
  if (declared.some((dep) => wanted(dep?.param))) return true;
  const properties = (Reflect.getMetadata(PROPERTY_DEPS_METADATA, type) ?? []) as { type?: unknown }[];
  return properties.some((dep) => wanted(dep?.type));
}

/** A `forwardRef(() => X)` stands for X. */
function unwrapForwardRef(dep: unknown): unknown {
  if (dep !== null && typeof dep === 'object' && typeof (dep as { forwardRef?: unknown }).forwardRef === 'function') {
    try {
      return (dep as { forwardRef: () => unknown }).forwardRef();
    } catch {
      return undefined;
    }
  }
  return dep;
}
