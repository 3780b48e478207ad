import type { Observable } from 'rxjs';
import type { KeyTemplateCheck } from '../options/method-cache-options.interface.js';

/* eslint-disable @typescript-eslint/no-explicit-any */

/**
 * A method decorator for methods taking `A` whose key template is `K`: applied to a method whose
 * parameters the template does not fit (`'product:{1}'` on `find(id)`), it does not compile. The
 * method returns a Promise or an Observable: the cache may have to ask a remote store, so a
 * cached method is asynchronous (declare a synchronous one `async`).
 */
export type CacheMethodDecorator<A extends readonly unknown[], K extends string> = <T extends (...args: A) => Promise<unknown> | Observable<unknown>>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<T> & KeyTemplateCheck<Parameters<T>, K>,
) => void;

/** Names a decorated method in messages: `@CacheResult() on ProductsService.find`. */
export function methodLabel(decorator: string, target: object, propertyKey: string | symbol): string {
  const owner = typeof target === 'function' ? target.name : (target.constructor as { name?: string } | undefined)?.name;
  return `@${decorator}() on ${owner ?? 'anonymous'}.${String(propertyKey)}`;
}

export type AnyArgs = any[];
