import { EncodeError } from '../errors/cache.errors.js';
import type { WrapOptions } from '../options/cache-options.interface.js';
import type { Factory, FactoryContext } from './compute-policy.js';
import { detachedContext } from './factory-context.js';
import type { TenantCache, UndefinedGuard } from './tenant-cache.js';

/**
 * `cache.wrap(key, factory, options)` for the faces whose value goes back to a caller (a cached
 * method, a resolver, a message reply): a value the codec cannot carry exactly (a class
 * instance, a function) is refused at write (`EncodeError`) and never stored, and the call still
 * gets what it computed, uncached; `onRefused` reports it. A caller that had joined such a
 * computation computes its own. Every other failure is the call's.
 */
export async function wrapOrRun<T>(cache: TenantCache, key: string, factory: (ctx: FactoryContext<T>) => Promise<T>, options: WrapOptions, onRefused: (err: EncodeError) => void): Promise<T> {
  let computed: { value: T } | undefined;
  try {
    return await cache.wrap<T>(
      key,
      // Any method result may come here: one that is undefined is returned, not stored.
      (async (ctx: FactoryContext<T>) => {
        const value = await factory(ctx);
        computed = { value };
        return value;
      }) as Factory<T> & UndefinedGuard<T>,
      options,
    );
  } catch (err) {
    if (!(err instanceof EncodeError)) throw err;
    onRefused(err);
    if (computed !== undefined) return computed.value;
    return factory(detachedContext<T>());
  }
}
