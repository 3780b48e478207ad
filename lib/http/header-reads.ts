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
  /** A view of a headers object that records the names read through it, and enumerations. */
  function recordingView<T extends object>(target: T): T {
    return new Proxy(target, {
      get(t, property) {
        note(property);
        return Reflect.get(t, property, t);
      },
      has(t, property) {
        note(property);
        return Reflect.has(t, property);
      },
      getOwnPropertyDescriptor(t, property) {
        note(property);
        return Reflect.getOwnPropertyDescriptor(t, property);
      },
      ownKeys(t) {
        if (on) enumerated = true;
        return Reflect.ownKeys(t);
      },
    });
  }
  const view = recordingView(original);
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
  const restoreRaw = shadow(message, 'rawHeaders', (current) => {
    if (on) enumerated = true;
    return current();
  });
  const restoreDistinct = shadow(message, 'headersDistinct', (current) => {
    const value = quietly(current);
    return value !== null && typeof value === 'object' ? recordingView(value as object) : value;
  });
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
