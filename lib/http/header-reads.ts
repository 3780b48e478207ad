import type { IncomingHttpHeaders } from 'node:http';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';

/** The request headers a handler read while its response was computed. */
export interface HeaderReads {
  /** Lowercased names read, present or not (an absent header is an input too). */
  readonly names: ReadonlySet<string>;
  /** Whether the headers were enumerated (spread, `Object.keys`, `JSON.stringify`): any may have been read. */
  readonly enumerated: boolean;
}

/** A recording in progress: `stop()` ends it, puts the request's own headers object back and returns what was read. */
export interface HeaderRecording {
  stop(): HeaderReads;
}

/** Property names a headers object is asked for by the language or by libraries, not as headers. */
const NOT_HEADERS = new Set(['then', 'tojson', 'constructor', 'inspect', 'length', 'prototype', '__proto__']);

/**
 * Records which request headers are read until `stop()`: the request's headers object is
 * swapped for a recording view of it (Express `req` and Fastify `request.raw` are Node's
 * `IncomingMessage`, whose `headers` can be reassigned; Fastify's `request.headers`,
 * Express's `req.get()`, `req.hostname` and Nest's `@Headers()` all read through it). Only
 * used while a miss runs its handler, so a hit pays nothing. `undefined` when the request's
 * headers cannot be swapped (then nothing is recorded and the caller must not trust silence).
 */
export function recordHeaderReads(req: CacheRequest): HeaderRecording | undefined {
  const message = messageOf(req);
  const original = message?.headers;
  if (message === undefined || original === null || typeof original !== 'object') return undefined;
  const names = new Set<string>();
  let enumerated = false;
  let on = true;
  const note = (property: string | symbol): void => {
    if (!on || typeof property !== 'string') return;
    if (property in Object.prototype) return; // toString, valueOf, …: not a header (names are lowercase)
    const name = property.toLowerCase();
    if (!NOT_HEADERS.has(name)) names.add(name);
  };
  /**
   * A view of a headers object that records the names read through it, and enumerations. Its
   * target is the object itself where it is known (so inspection, freezing and the Proxy
   * invariants behave as on the object); `headersDistinct` not computed yet gets an empty stand-in
   * and `targetOf`, which computes it when the view is first used.
   */
  function recordingView(target: object, targetOf: () => object = () => target): object {
    return new Proxy(target, {
      get(_t, property) {
        note(property);
        return Reflect.get(targetOf(), property);
      },
      has(_t, property) {
        note(property);
        return Reflect.has(targetOf(), property);
      },
      getOwnPropertyDescriptor(_t, property) {
        note(property);
        return Reflect.getOwnPropertyDescriptor(targetOf(), property);
      },
      ownKeys() {
        if (on) enumerated = true;
        return Reflect.ownKeys(targetOf());
      },
      set: (_t, property, value) => Reflect.set(targetOf(), property, value),
      defineProperty: (_t, property, descriptor) => Reflect.defineProperty(targetOf(), property, descriptor),
      deleteProperty: (_t, property) => Reflect.deleteProperty(targetOf(), property),
    });
  }
  const view = recordingView(original) as IncomingHttpHeaders;
  try {
    message.headers = view;
  } catch {
    return undefined;
  }
  if (message.headers !== view) return undefined; // a getter that ignores assignment: nothing would be seen
  // The same headers, read another way: `rawHeaders` (every name and value: an enumeration)
  // and `headersDistinct` (a recording view of it too).
  /** Runs `fn` without recording (Node computes `headersDistinct` from `rawHeaders` on first use: not an enumeration). */
  const quietly = <T>(fn: () => T): T => {
    const was = on;
    on = false;
    try {
      return fn();
    } finally {
      on = was;
    }
  };
  const restoreRaw = recordRawHeaders(message, () => {
    if (on) enumerated = true;
  });
  const restoreDistinct = recordDistinct(message, recordingView, quietly);
  return {
    stop() {
      on = false;
      if (message.headers === view) message.headers = original;
      restoreRaw();
      restoreDistinct();
      return { names, enumerated };
    },
  };
}

/**
 * `rawHeaders` (every name and value) read while recording is an enumeration. Node keeps it as
 * an own data property of the message, so a view of it is assigned, and the array put back:
 * no accessor is defined on the message, which would change its shape (and, once deleted, put
 * it in dictionary mode, slowing every later property access of Node and the platform on
 * every request). Anything else gets the accessor.
 */
function recordRawHeaders(message: { headers: IncomingHttpHeaders }, enumerate: () => void): () => void {
  const holder = message as unknown as { rawHeaders?: unknown };
  const own = Object.getOwnPropertyDescriptor(message, 'rawHeaders');
  const original = own?.value;
  if (own === undefined || own.writable !== true || !Array.isArray(original)) {
    return shadow(message, 'rawHeaders', (current) => {
      enumerate();
      return current();
    });
  }
  const view = new Proxy(original, {
    get(t, property) {
      enumerate();
      return Reflect.get(t, property, t);
    },
    has(t, property) {
      enumerate();
      return Reflect.has(t, property);
    },
    getOwnPropertyDescriptor(t, property) {
      enumerate();
      return Reflect.getOwnPropertyDescriptor(t, property);
    },
    ownKeys(t) {
      enumerate();
      return Reflect.ownKeys(t);
    },
  });
  holder.rawHeaders = view;
  return () => {
    if (holder.rawHeaders === view) holder.rawHeaders = original;
  };
}

/** The `headersDistinct` accessor a message inherits, by the message's prototype (Express puts two prototypes of its own above Node's). */
const distinctAccessors = new WeakMap<object, PropertyDescriptor | null>();

function inheritedDistinct(message: object): PropertyDescriptor | undefined {
  const proto = Object.getPrototypeOf(message) as object | null;
  if (proto === null) return undefined;
  let found = distinctAccessors.get(proto);
  if (found === undefined) {
    found = null;
    for (let at: object | null = proto; at !== null && found === null; at = Object.getPrototypeOf(at) as object | null) {
      found = Object.getOwnPropertyDescriptor(at, 'headersDistinct') ?? null;
    }
    distinctAccessors.set(proto, found);
  }
  return found ?? undefined;
}

/** The symbol last found by `distinctSymbol` (one per Node process): checked before scanning. */
let knownDistinct: symbol | undefined;

/** Node's own cache of `headersDistinct` (a symbol it keeps on the message once computed). */
function distinctSymbol(message: object): symbol | undefined {
  if (knownDistinct !== undefined && Object.hasOwn(message, knownDistinct)) return knownDistinct;
  for (const symbol of Object.getOwnPropertySymbols(message)) if (symbol.description === 'kHeadersDistinct') return (knownDistinct = symbol);
  return undefined;
}

/**
 * `headersDistinct` (the headers again, as arrays) read while recording: a recording view of it.
 * Node's message has it as a prototype accessor whose setter replaces what the getter returns,
 * so the view is assigned through it (no own property defined on the message; see
 * `recordRawHeaders`). Node computes it from `rawHeaders` on first use; not computed yet, it is
 * computed only if the view is read. Without that accessor, an own accessor shadows it.
 */
function recordDistinct(message: { headers: IncomingHttpHeaders }, viewOf: (target: object, targetOf?: () => object) => object, quietly: <T>(fn: () => T) => T): () => void {
  const holder = message as unknown as { headersDistinct?: unknown };
  const accessor = inheritedDistinct(message);
  if (Object.hasOwn(message, 'headersDistinct') || accessor?.get === undefined || accessor.set === undefined) {
    return shadow(message, 'headersDistinct', (current) => {
      const value = quietly(current);
      return value !== null && typeof value === 'object' ? viewOf(value) : value;
    });
  }
  const symbol = distinctSymbol(message);
  const cached = symbol === undefined ? undefined : (message as unknown as Record<symbol, unknown>)[symbol];
  let real: object | undefined = cached !== null && typeof cached === 'object' ? cached : undefined;
  const view: object =
    real !== undefined
      ? viewOf(real)
      : viewOf({}, () => {
          if (real !== undefined) return real;
          const current = quietly(() => holder.headersDistinct);
          if (current !== view) {
            // No longer installed (recording stopped, or the handler assigned its own): what the message answers.
            real = current as object;
          } else {
            // Node's getter answers what was assigned: let it compute the real one, then put the view back.
            holder.headersDistinct = undefined;
            real = quietly(() => holder.headersDistinct) as object;
            holder.headersDistinct = view;
          }
          return real;
        });
  holder.headersDistinct = view;
  return () => {
    // Node's getter answers what it would have: the one it had, or one computed anew on next use.
    if (quietly(() => holder.headersDistinct) === view) holder.headersDistinct = real;
  };
}

/**
 * Gives `message` an own accessor for `property` whose value is `read(current)` (`current`: what it held), and
 * returns what puts it back (its own property as it was, or none, so the prototype's getter
 * answers again). Nothing is done for a property it cannot redefine.
 */
function shadow(message: object, property: string, read: (current: () => unknown) => unknown): () => void {
  const own = Object.getOwnPropertyDescriptor(message, property);
  if (own !== undefined && own.configurable === false) return () => undefined;
  const current = (): unknown => (own === undefined ? Reflect.get(Object.getPrototypeOf(message) as object, property, message) : 'value' in own ? own.value : own.get?.call(message));
  try {
    Object.defineProperty(message, property, {
      configurable: true,
      enumerable: own?.enumerable ?? false,
      get: () => read(current),
      set: (value: unknown) => {
        Object.defineProperty(message, property, { configurable: true, enumerable: true, writable: true, value });
      },
    });
  } catch {
    return () => undefined;
  }
  return () => {
    const now = Object.getOwnPropertyDescriptor(message, property);
    if (now === undefined || now.get === undefined) return; // assigned meanwhile: keep what was assigned
    if (own === undefined) delete (message as Record<string, unknown>)[property];
    else Object.defineProperty(message, property, own);
  };
}

/** The Node message behind a platform request: Fastify's `request.raw`, or Express's `req` itself. */
function messageOf(req: CacheRequest): { headers: IncomingHttpHeaders } | undefined {
  const raw = req.raw as { headers?: unknown } | undefined;
  if (raw !== undefined && raw !== null && typeof raw === 'object' && 'headers' in raw) return raw as { headers: IncomingHttpHeaders };
  return req as unknown as { headers: IncomingHttpHeaders };
}
