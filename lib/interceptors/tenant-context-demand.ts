import { PARAMTYPES_METADATA, PROPERTY_DEPS_METADATA, SELF_DECLARED_DEPS_METADATA } from '@nestjs/common/constants.js';

/** What this needs of Nest's `Module` (from `ModulesContainer`). */
export interface ScannedModule {
  readonly providers: Map<unknown, WrapperLike>;
  readonly controllers: Map<unknown, WrapperLike>;
  readonly injectables: Map<unknown, WrapperLike>;
}

interface WrapperLike {
  readonly metatype?: unknown;
  readonly inject?: readonly unknown[] | null;
}

/**
 * The classes of the app that can reach `CacheManager.current()` / `currentTenantId()`: every
 * provider, controller and injectable (guard, interceptor, pipe, filter) that asks Nest for
 * `token` — through its constructor (by type, `@Inject()`, `forwardRef()`), a property
 * (`@Inject()` on a field), or a factory's `inject` list. `ignore` are the library's own classes,
 * which never read the tenant context.
 *
 * Why: the tenant context is AsyncLocalStorage, and on Node 20 and 22 using it once makes every
 * promise and callback of the process pay an async hook (about 10% of a cache hit's throughput,
 * more for promise-heavy handlers). An app that never asks for the manager cannot read the
 * context, so it need not pay. Returns the names of the classes found, in scan order.
 */
export function classesInjecting(modules: Iterable<ScannedModule>, token: unknown, ignore: ReadonlySet<unknown>): string[] {
  const found: string[] = [];
  for (const module of modules) {
    for (const map of [module.providers, module.controllers, module.injectables]) {
      for (const wrapper of map.values()) {
        const metatype = wrapper.metatype;
        if (ignore.has(metatype)) continue;
        if (asks(wrapper, token)) found.push(typeof metatype === 'function' && metatype.name !== '' ? metatype.name : 'a factory provider');
      }
    }
  }
  return found;
}

function asks(wrapper: WrapperLike, token: unknown): boolean {
  // A factory provider: its `inject` list (`{ token, optional }` entries allowed).
  if (Array.isArray(wrapper.inject)) return wrapper.inject.some((dep) => resolve(dep) === token || resolve((dep as { token?: unknown } | null)?.token) === token);
  const type = wrapper.metatype;
  if (typeof type !== 'function') return false;
  const byType = (Reflect.getMetadata(PARAMTYPES_METADATA, type) ?? []) as unknown[];
  if (byType.some((dep) => dep === token)) return true;
  const declared = (Reflect.getMetadata(SELF_DECLARED_DEPS_METADATA, type) ?? []) as { param?: unknown }[];
  if (declared.some((dep) => resolve(dep?.param) === token)) return true;
  const properties = (Reflect.getMetadata(PROPERTY_DEPS_METADATA, type) ?? []) as { type?: unknown }[];
  return properties.some((dep) => resolve(dep?.type) === token);
}

/** A `forwardRef(() => X)` stands for X. */
function resolve(dep: unknown): unknown {
  if (dep !== null && typeof dep === 'object' && typeof (dep as { forwardRef?: unknown }).forwardRef === 'function') {
    try {
      return (dep as { forwardRef: () => unknown }).forwardRef();
    } catch {
      return undefined;
    }
  }
  return dep;
}
