import type { CanActivate } from '@nestjs/common';
import type { ApplicationConfig, ModulesContainer } from '@nestjs/core';
import { GuardsContextCreator } from '@nestjs/core/guards/guards-context-creator.js';
import { ExecutionContextHost } from '@nestjs/core/helpers/execution-context-host.js';
import { isObservable, lastValueFrom } from 'rxjs';

/** What a guard decided for one request in the fast path: its verdict, or what it threw. */
type Verdict = { readonly guard: CanActivate; readonly allowed: boolean } | { readonly guard: CanActivate; readonly error: unknown };

/** The verdicts of one request, in the order the guards ran, whether all allowed, and how many Nest has replayed. */
export interface Verdicts {
  readonly list: Verdict[];
  next: number;
  allowed: boolean;
}

/** Ends a run on a denial (`false`) or a throw. */
function denied(kept: Verdicts, last: Verdict): Verdicts {
  kept.list.push(last);
  kept.allowed = false;
  return kept;
}

/**
 * The guards of routes served by the fast path, run before Nest's pipeline with Nest's own
 * semantics, and each verdict handed to Nest's run of the same request.
 *
 * Anything but a hit (a denial, a throw, a miss) goes on into Nest's pipeline, which runs the
 * route's guards itself. Running them twice would double their side effects (a rate limiter
 * counting a request twice, a token verified twice) and could give another answer. So each
 * guard instance of such a route answers Nest's call for a request the fast path already
 * guarded with the verdict it gave then, in order, once: Nest's guard loop then stops where the
 * fast path's did and raises the same exception (`ForbiddenException` for `false`, the guard's
 * own error otherwise) through the route's exception filters. A denied request is answered by
 * Nest exactly as without the fast path, and never reaches the cache lookup.
 */
/**
 * Kept verdicts by request, and the guard instances wrapped to answer with them: shared by every
 * app of the process, so a guard instance two apps use (a test suite booting one app per test)
 * is wrapped once.
 */
const keptVerdicts = new WeakMap<object, Verdicts>();
const replaying = new WeakSet<object>();

export class RouteGuards {
  private readonly creator: GuardsContextCreator;

  constructor(
    private readonly modules: ModulesContainer,
    config: ApplicationConfig,
  ) {
    // Nest's own resolution of a route's guards (global, controller, handler; classes through the
    // module's injectables), so the list is the one Nest's router runs. It reads modules only.
    this.creator = new GuardsContextCreator({ getModules: () => modules } as never, config);
  }

  /**
   * The guard instances Nest runs for a route, ready to replay their verdicts; `undefined` when
   * the fast path cannot take the route (its controller is in no module or in several, or a
   * guard's `canActivate` cannot be wrapped: a frozen instance).
   */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  of(controller: Function, handler: Function): readonly CanActivate[] | undefined {
    let moduleKey: string | undefined;
    let instance: object | undefined;
    for (const [key, module] of this.modules) {
      const wrapper = module.controllers.get(controller as never);
      if (wrapper === undefined) continue;
      if (moduleKey !== undefined) return undefined;
      moduleKey = key;
      instance = wrapper.instance as object;
    }
    if (moduleKey === undefined || instance === undefined || instance === null) return undefined;
    const guards = this.creator.create(instance as never, handler as never, moduleKey);
    for (const guard of guards) if (!this.replayOn(guard)) return undefined;
    return guards;
  }

  /**
   * Runs `guards` for a request as Nest's `GuardsConsumer` does: in order, one `http`
   * ExecutionContext over `[req, res, next]`, a boolean taken as it is, anything else awaited
   * (an Observable's last value), stopping at the first falsy verdict or throw. The verdicts
   * say whether all allowed; hand them to `keep()` before the request goes on into Nest.
   */
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  run(guards: readonly CanActivate[], args: unknown[], controller: Function, handler: Function): Verdicts | Promise<Verdicts> {
    const kept: Verdicts = { list: [], next: 0, allowed: true };
    const context = new ExecutionContextHost(args, controller as never, handler);
    context.setType('http');
    for (let i = 0; i < guards.length; i++) {
      const guard = guards[i]!;
      let result: unknown;
      try {
        result = guard.canActivate(context);
      } catch (error) {
        return denied(kept, { guard, error });
      }
      if (typeof result === 'boolean') {
        if (!result) return denied(kept, { guard, allowed: false });
        kept.list.push({ guard, allowed: true });
        continue;
      }
      return this.settle(guards, i, result, context, kept);
    }
    return kept;
  }

  /**
   * Keeps a request's verdicts for Nest's run of its guards (a request that goes on into Nest's
   * pipeline: a denial, a miss). Not needed for a hit, which never gets there. Until kept, a
   * guard listed twice runs twice, as Nest runs it.
   */
  keep(req: object, verdicts: Verdicts): void {
    keptVerdicts.set(req, verdicts);
  }

  private async settle(guards: readonly CanActivate[], from: number, first: unknown, context: ExecutionContextHost, kept: Verdicts): Promise<Verdicts> {
    let result = first;
    for (let i = from; i < guards.length; i++) {
      const guard = guards[i]!;
      try {
        if (i > from) result = guard.canActivate(context);
        const allowed = typeof result === 'boolean' ? result : Boolean(await pick(result));
        if (!allowed) return denied(kept, { guard, allowed });
        kept.list.push({ guard, allowed });
      } catch (error) {
        return denied(kept, { guard, error });
      }
    }
    return kept;
  }

  /** Wraps a guard instance's `canActivate` once, so Nest's call gets a kept verdict when there is one. */
  private replayOn(guard: CanActivate): boolean {
    if (replaying.has(guard)) return true;
    const original = guard.canActivate;
    const verdicts = keptVerdicts;
    const replay = function (this: CanActivate, context: ExecutionContextHost): unknown {
      const kept = context?.getType?.() === 'http' ? verdicts.get(context.getArgByIndex<object>(0)) : undefined;
      const verdict = kept?.list[kept.next];
      if (verdict === undefined || verdict.guard !== this) return original.call(this, context);
      kept!.next++;
      if ('error' in verdict) throw verdict.error;
      return verdict.allowed;
    };
    try {
      Object.defineProperty(guard, 'canActivate', { value: replay, writable: true, configurable: true, enumerable: false });
    } catch {
      return false; // a frozen or sealed instance: the route stays on Nest's pipeline
    }
    replaying.add(guard);
    return true;
  }
}

/** A guard's result as Nest's `GuardsConsumer.pickResult` reads it: awaited, then an Observable's last value. */
async function pick(result: unknown): Promise<unknown> {
  const value = await result;
  return isObservable(value) ? lastValueFrom(value) : value;
}
