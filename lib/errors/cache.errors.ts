/**
 * Every error this library throws is a `CacheError` with a stable `code` (for programs) and a
 * message that names the problem and the fix (for people). The original error, if any, is
 * kept in `cause`. Messages never contain cached values or raw keys: keys appear only as
 * their hash (see `keyHash`), because both may carry tenant data.
 */
export class CacheError extends Error {
  /** A stable, machine-readable code such as `ERR_CACHE_CLOSED`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
  }
}

/** Thrown by chained APIs that must produce a value; `get` itself resolves `undefined` on a miss. */
export class CacheMissError extends CacheError {
  constructor(readonly keyHash: string) {
    super('ERR_CACHE_MISS', `No entry for key #${keyHash}. Use get() (resolves undefined on a miss) or wrap() to compute it.`);
  }
}

/** A compare-and-set found a value other than the expected one. */
export class CasConflictError extends CacheError {
  constructor(readonly keyHash: string) {
    super('ERR_CAS_CONFLICT', `compareAndSet on key #${keyHash} lost: the stored value changed. Read it again and retry.`);
  }
}

/** Any call after `close()`. */
export class CacheClosedError extends CacheError {
  constructor(what = 'cache') {
    super('ERR_CACHE_CLOSED', `The ${what} is closed. Calls after close() are rejected; create a new instance (or stop using this one during shutdown).`);
  }
}

/**
 * A TTL that is not a non-negative number of milliseconds or a duration string, or a TTL given
 * where an options object belongs (`set(key, value, 100)`). `fix` replaces the default advice.
 */
export class InvalidTtlError extends CacheError {
  constructor(readonly received: unknown, readonly option = 'ttl', fix?: string) {
    super(
      'ERR_INVALID_TTL',
      `Invalid ${option}: ${describe(received)}. ${fix ?? "Use a non-negative number of milliseconds (0 = no expiry) or a duration string such as '500ms', '30s', '5m', '1h', '1d'."}`,
    );
  }
}

/** A bad option, found when the cache or the module is created, or passed to a call. Names the option and the fix. */
export class CacheConfigError extends CacheError {
  constructor(readonly option: string, problem: string, fix: string, options?: { cause?: unknown }) {
    super('ERR_CACHE_CONFIG', `Invalid option "${option}": ${problem}. Fix: ${fix}`, options);
  }
}

/** The store could not be reached (connect refused, closed connection, offline). */
export class CacheConnectionError extends CacheError {
  constructor(readonly op: string, readonly address: string, options?: { cause?: unknown }) {
    super('ERR_CACHE_CONNECTION', connectionMessage(op, address, options?.cause), options);
  }
}

/**
 * A store operation failed: the store answered with an error (a script error, a wrong type), or
 * gave no answer in time (`CacheTimeoutError`), or is full (`CacheStoreFullError`). Carries the
 * key hash, never the key or the value.
 */
export class CacheOperationError extends CacheError {
  constructor(readonly op: string, readonly keyHash: string | undefined, options?: { cause?: unknown }) {
    super('ERR_CACHE_OPERATION', `Cache ${op}${onKey(keyHash)} failed${causeText(options?.cause)}.`, options);
  }
}

/**
 * No reply within the store's command timeout, counted from when the call was issued (waiting
 * behind other commands included). Like a connection failure, it counts towards opening the
 * circuit: a store that does not answer in time is as good as down for a cache.
 */
export class CacheTimeoutError extends CacheOperationError {
  constructor(op: string, keyHash: string | undefined, readonly address: string, readonly timeoutMs: number, options?: { cause?: unknown }) {
    super(op, keyHash, options);
    (this as { code: string }).code = 'ERR_CACHE_TIMEOUT';
    this.message = `Cache ${op}${onKey(keyHash)} timed out: no reply from ${address} within ${timeoutMs} ms. The cache serves misses meanwhile; if the store is slow rather than down, raise "commandTimeout".`;
  }
}

/**
 * The store refused a write because it is full (Redis: `OOM command not allowed when used memory >
 * 'maxmemory'`, with a `maxmemory-policy` that evicts nothing). Not an outage: reads are still
 * served, so it never opens the circuit; health reports the cache `degraded` for a while.
 */
export class CacheStoreFullError extends CacheOperationError {
  constructor(op: string, keyHash: string | undefined, readonly address: string, options?: { cause?: unknown }) {
    super(op, keyHash, options);
    (this as { code: string }).code = 'ERR_CACHE_STORE_FULL';
    this.message = `Cache ${op}${onKey(keyHash)} refused: the store at ${address} is full (maxmemory reached and its maxmemory-policy evicts nothing); reads are still served. Fix: set maxmemory-policy to allkeys-lru (or volatile-lru), or raise maxmemory.`;
  }
}

/**
 * The store cannot do what was asked (a custom store without `pull`): the call's misuse, not a
 * store failure, so it is neither counted in `cache.errors` nor reported. Nothing was read or changed.
 */
export class CacheUnsupportedError extends CacheError {
  constructor(readonly op: string, problem: string, fix: string) {
    super('ERR_CACHE_UNSUPPORTED', `Cache ${op} is not supported: ${problem}. Fix: ${fix}.`);
  }
}

/** An encoded entry is larger than `maxPayloadBytes`. Nothing is written. */
export class PayloadTooLargeError extends CacheError {
  constructor(readonly size: number, readonly limit: number) {
    super('ERR_PAYLOAD_TOO_LARGE', `Encoded entry is ${size} bytes, over the limit of ${limit} bytes. Cache a smaller value or raise the "maxPayloadBytes" option.`);
  }
}

/** Stored bytes that cannot be trusted: garbage, truncated, too deep or too large, another key's entry. */
export class DecodeError extends CacheError {
  constructor(readonly reason: string, options?: { cause?: unknown }) {
    super('ERR_DECODE', `Cached entry could not be decoded: ${reason}. It is treated as a miss and deleted.`, options);
  }
}

/**
 * A value that cannot be cached as it is (a function, a class instance, a cycle, too deep, ...),
 * or an entry that cannot be written. Nothing is written.
 */
export class EncodeError extends CacheError {
  /** Where in the value the problem is, e.g. `value.items[3]`, when it is about one part of it. */
  readonly path?: string;

  constructor(reason: string, options?: { cause?: unknown; path?: string }) {
    super('ERR_ENCODE', `Value could not be encoded: ${reason}.`, options);
    if (options?.path !== undefined) this.path = options.path;
  }
}

/** A tenant id or a key that cannot be used (empty, too long, not a string). */
export class InvalidKeyError extends CacheError {
  constructor(what: 'tenant id' | 'key' | 'tag' | 'namespace', problem: string, fix: string) {
    super(what === 'tenant id' ? 'ERR_INVALID_TENANT' : 'ERR_INVALID_KEY', `Invalid ${what}: ${problem}. ${fix}`);
  }
}

/** `current()` was called outside a request (or a `runWithTenant` scope) that has a tenant. */
export class TenantRequiredError extends CacheError {
  /** @param why Why there is no context here, when the integration knows (appended to the message). */
  constructor(why?: string) {
    super(
      'ERR_TENANT_REQUIRED',
      'No tenant in the current context. Call CacheManager.current() only while handling a request whose tenant was resolved, or use forTenant(id) / runWithTenant(id, fn).' +
        (why === undefined ? '' : ` ${why}`),
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  return typeof value;
}

function connectionMessage(op: string, address: string, cause: unknown): string {
  return `Cache store at ${address} unreachable during ${op}${causeText(cause)}. Check that the server is up and the URL is right; the cache serves misses meanwhile.`;
}

function onKey(keyHash: string | undefined): string {
  return keyHash ? ` on key #${keyHash}` : '';
}

function causeText(cause: unknown): string {
  if (cause instanceof Error && cause.message) return `: ${cause.message.slice(0, 200)}`;
  return '';
}

/** The circuit breaker around a remote store is open: calls fail fast instead of waiting on a failing store. */
export class CircuitOpenError extends CacheConnectionError {
  /** @param store Where the store is (an address) or what it is (its kind): `address` of the error. */
  constructor(op: string, store: string, retryInMs: number) {
    super(op, store);
    (this as { code: string }).code = 'ERR_CIRCUIT_OPEN';
    this.message = connectionMessage(op, `${store} (circuit open, next probe in ${Math.max(0, Math.ceil(retryInMs))} ms)`, undefined);
  }
}

/** A factory ran past its hard timeout and no entry in grace could be served instead. Its value is still stored when it arrives. */
export class FactoryTimeoutError extends CacheError {
  constructor(readonly timeoutMs: number) {
    super('ERR_FACTORY_TIMEOUT', `The factory did not finish within its hard timeout of ${timeoutMs} ms. Its value will be stored when it arrives; raise "hardTimeout", or give the entry a "grace" so a stale value can be served meanwhile.`);
  }
}

/**
 * A factory called `ctx.fail(reason)` with a reason that is not an `Error`: nothing was stored,
 * and no entry in grace could be served instead. `reason` is what the factory passed.
 */
export class FactoryFailedError extends CacheError {
  constructor(readonly reason: unknown) {
    super('ERR_FACTORY_FAILED', `The factory failed${typeof reason === 'string' ? `: ${reason}` : ''}. Nothing was cached; give the entry a "grace" so the entry in grace is served when a refresh fails.`);
  }
}

/**
 * With `headerGuard: 'strict'`: the handler of a `@Cached()` route read a request header that
 * is not part of the key, so its response could carry one client's input to everyone who
 * shares the entry. Thrown at the first such request (the response is not stored).
 */
export class UnkeyedHeaderError extends CacheError {
  constructor(
    readonly route: string,
    readonly headers: readonly string[],
  ) {
    super('ERR_UNKEYED_HEADER', `${unkeyedHeaderProblem(route, headers)} ${unkeyedHeaderFix(headers)}`);
  }
}

/** What went wrong when a handler read unkeyed request headers (`'*'`: it enumerated them all). */
export function unkeyedHeaderProblem(route: string, headers: readonly string[]): string {
  const read = headers.includes('*') ? 'enumerated the request headers (spread, Object.keys, JSON.stringify)' : `read the request header${headers.length > 1 ? 's' : ''} ${headers.join(', ')}`;
  return `@Cached() on ${route} did not store its response: the handler ${read}, which ${headers.length > 1 || headers.includes('*') ? 'are' : 'is'} not part of the cache key, so one client could choose what every user sharing the entry receives.`;
}

/** How to fix it: key the response on the header, or declare it safe. */
export function unkeyedHeaderFix(headers: readonly string[]): string {
  const named = headers.filter((h) => h !== '*');
  const list = named.map((h) => `'${h}'`).join(', ');
  if (named.length === 0) return 'Read the headers you need by name, then add them to the key: @Cached({ vary: [...] }).';
  // The client's address (req.ip reads them behind a proxy): keyed, one client's response would
  // still be shared by every client sending the same value, or none.
  if (named.some((h) => h === 'x-forwarded-for' || h === 'forwarded' || h === 'x-real-ip')) {
    return "The response depends on the client's address: do not cache it per tenant (@NoCache(), or scope: 'user' if it is per user).";
  }
  return `If the response depends on ${named.length > 1 ? 'them' : 'it'}, add ${named.length > 1 ? 'them' : 'it'} to the key: @Cached({ vary: [${list}] }); if ${named.length > 1 ? 'they' : 'it'} never change${named.length > 1 ? '' : 's'} the response, list ${named.length > 1 ? 'them' : 'it'} in the module's safeHeaders.`;
}
