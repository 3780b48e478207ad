import { Observable } from 'rxjs';
import { describe, expectTypeOf, it } from 'vitest';
import { CacheEvict } from '../../lib/decorators/cache-evict.decorator.js';
import { CacheResult } from '../../lib/decorators/cache-result.decorator.js';
import type { KeyTemplateCheck, MissingPlaceholders } from '../../lib/options/method-cache-options.interface.js';

// Type tests: `npm run typecheck` compiles this file, so each `@ts-expect-error` below must
// stand on a line that does not compile; Vitest runs the expectTypeOf checks.

interface Opts {
  readonly locale: string;
  readonly page?: { readonly size: number };
}

class Service {
  @CacheResult({ key: 'product:{0}' })
  async one(id: string): Promise<string> {
    return id;
  }

  @CacheResult({ key: 'product:{0}:{1.locale}:{1.page.size}' })
  async paths(id: string, opts: Opts): Promise<string> {
    return id + opts.locale;
  }

  // @ts-expect-error the template names argument {1}, and the method takes one argument
  @CacheResult({ key: 'product:{1}' })
  async missingArgument(id: string): Promise<string> {
    return id;
  }

  // @ts-expect-error the template names {1.region}, which Opts has not
  @CacheResult({ key: 'product:{0}:{1.region}' })
  async missingProperty(id: string, opts: Opts): Promise<string> {
    return id + opts.locale;
  }

  // @ts-expect-error the same check for @CacheEvict()
  @CacheEvict({ key: 'product:{2}' })
  async evictMissing(id: string): Promise<string> {
    return id;
  }

  @CacheResult<[id: string, opts: Opts]>({ key: (id, opts) => `product:${id}:${opts.locale}` })
  async byFunction(id: string, opts: Opts): Promise<string> {
    return id + opts.locale;
  }

  // @ts-expect-error the key function's parameters do not match the method's
  @CacheResult<[id: number]>({ key: (id) => `product:${id.toFixed(0)}` })
  async wrongFunction(id: string): Promise<string> {
    return id;
  }

  @CacheResult({ key: 'stream:{0}' })
  stream(n: number): Observable<number> {
    return new Observable((s) => s.next(n));
  }

  // @ts-expect-error a cached method is asynchronous (a Promise or an Observable): declare it async
  @CacheResult({ key: 'sync:{0}' })
  sync(id: string): string {
    return id;
  }
}

describe('key template types', () => {
  it('names exactly the placeholders a parameter list lacks', () => {
    expectTypeOf<MissingPlaceholders<[id: string], 'p:{0}'>>().toEqualTypeOf<never>();
    expectTypeOf<MissingPlaceholders<[id: string], 'p:{0}:{1}'>>().toEqualTypeOf<'1'>();
    expectTypeOf<MissingPlaceholders<[id: string, opts: Opts], 'p:{1.locale}:{1.nope}:{3}'>>().toEqualTypeOf<'1.nope' | '3'>();
    expectTypeOf<KeyTemplateCheck<[id: string], 'p:{0}'>>().toEqualTypeOf<unknown>();
    expectTypeOf<KeyTemplateCheck<[id: string], string>>().toEqualTypeOf<unknown>();
    expectTypeOf<Service['one']>().toEqualTypeOf<(id: string) => Promise<string>>();
  });
});
