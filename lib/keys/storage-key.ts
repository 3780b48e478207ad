import { createHash } from 'node:crypto';
import { InvalidKeyError } from '../errors/cache.errors.js';

/**
 * The one place that turns (namespace, tenant, kind, key) into a storage key.
 *
 * Layout: `<namespace>:{<scope>}:<kind>:<key>`
 * - namespace: validated to `[A-Za-z0-9._-]`, so it holds no `:`, brace or glob character;
 * - scope: `t.<encoded tenant id>` for a tenant, `g` for data shared by all tenants. The
 *   encoding keeps only `[A-Za-z0-9._~-]` and writes every other UTF-16 unit as `%HH` (ASCII)
 *   or `%uHHHH`, so the scope has no `:`, `{`, `}` or glob character and is injective;
 * - kind: a fixed word (`entry`, `tag` a tag's version, `lock` stampede lock, `meta` the scope's
 *   own records: its invalidation clock and epoch);
 * - key: the user's key, verbatim (Redis keys are binary-safe). It is last, so whatever it
 *   holds, the first three `:` still split the storage key unambiguously.
 *
 * Hence the map is injective: the storage key determines (namespace, scope, kind, key), and
 * the scope determines the tenant. The braces make the scope a Redis Cluster hash tag, so
 * every key of one tenant lives in one slot (per-tenant scripts run on one shard; the
 * trade-off is that a hot tenant is served by one shard).
 */
export type KeyKind = 'entry' | 'tag' | 'lock' | 'meta';

/** A storage key; only `storageKey()` creates one, so no code path can forge another tenant's key. */
export interface StorageKey {
  /** The full key as stored (before any client-side prefix such as ioredis `keyPrefix`). */
  readonly full: string;
  /** The (namespace, tenant) it belongs to; `scope.id` equal means the same tenant. */
  readonly scope: KeyScope;
  readonly kind: KeyKind;
}

/** Longest tenant id accepted, in UTF-16 code units. */
export const MAX_TENANT_ID_LENGTH = 256;
/** Longest user key accepted, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 32_768;
/** Marker for the scope shared by all tenants. Not a string, so no tenant id can equal it. */
export const GLOBAL_SCOPE: unique symbol = Symbol('nestjs-tenant-cache.global');
export type TenantRef = string | typeof GLOBAL_SCOPE;

const NAMESPACE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const COLON = 0x3a;
const SAFE_RE = /^[A-Za-z0-9._~-]*$/;

export function assertNamespace(namespace: unknown): asserts namespace is string {
  if (typeof namespace !== 'string' || !NAMESPACE_RE.test(namespace)) {
    throw new InvalidKeyError('namespace', `${JSON.stringify(namespace)} is not 1-64 characters of [A-Za-z0-9._-]`, 'Choose a short name such as "cache" or "myapp-cache".');
  }
}

export function assertTenantId(tenant: unknown): asserts tenant is string {
  if (typeof tenant !== 'string') throw new InvalidKeyError('tenant id', `expected a string, got ${typeof tenant}`, 'Resolve the tenant to a string id.');
  if (tenant.length === 0) throw new InvalidKeyError('tenant id', 'it is empty', 'An empty tenant would share a namespace; resolve a real tenant id or bypass the cache.');
  if (tenant.length > MAX_TENANT_ID_LENGTH) {
    throw new InvalidKeyError('tenant id', `it is ${tenant.length} characters, over ${MAX_TENANT_ID_LENGTH}`, 'Use a short stable id (a UUID or slug), not free text.');
  }
}

export function assertUserKey(key: unknown, what: 'key' | 'tag' = 'key'): asserts key is string {
  if (typeof key !== 'string') throw new InvalidKeyError(what, `expected a string, got ${typeof key}`, `Pass the ${what} as a string.`);
  if (key.length === 0) throw new InvalidKeyError(what, 'it is empty', `Use a non-empty ${what}.`);
  if (key.length > MAX_KEY_LENGTH) throw new InvalidKeyError(what, `it is ${key.length} characters, over ${MAX_KEY_LENGTH}`, `Hash long inputs into a shorter ${what}.`);
  // Redis stores keys as UTF-8, where every lone surrogate becomes U+FFFD: 'k\uD800' and
  // 'k\uDC00' would be one Redis key but two memory keys. Refuse them so stores agree.
  if (!key.isWellFormed()) throw new InvalidKeyError(what, 'it contains a lone UTF-16 surrogate', `Use well-formed text (String.prototype.toWellFormed()) or hash binary input into the ${what}.`);
}

/** Injective, glob-free, brace-free, colon-free encoding of a tenant id. */
export function encodeSegment(raw: string): string {
  if (SAFE_RE.test(raw)) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2e || c === 0x5f || c === 0x7e || c === 0x2d) {
      out += raw[i];
    } else if (c < 0x80) {
      out += `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
    } else {
      // Per code unit, so lone surrogates (which encodeURIComponent rejects) encode too.
      out += `%u${c.toString(16).toUpperCase().padStart(4, '0')}`;
    }
  }
  return out;
}

/** The scope segment of a tenant (validated) or of the global scope. */
export function scopeOf(tenant: TenantRef): string {
  if (tenant === GLOBAL_SCOPE) return 'g';
  assertTenantId(tenant);
  return `t.${encodeSegment(tenant)}`;
}

/**
 * A (namespace, tenant) pair, validated and encoded once. Only `KeyScope.of` makes one, so a
 * scope's `id` always matches its tenant; facades create theirs once and reuse it.
 */
export class KeyScope {
  private constructor(
    readonly namespace: string,
    /** The tenant id, or `undefined` for the global scope. */
    readonly tenant: string | undefined,
    /** `t.<encoded tenant>` or `g`. */
    readonly id: string,
  ) {}

  static of(namespace: string, tenant: TenantRef): KeyScope {
    assertNamespace(namespace);
    return new KeyScope(namespace, tenant === GLOBAL_SCOPE ? undefined : tenant, scopeOf(tenant));
  }

  get isGlobal(): boolean {
    return this.tenant === undefined;
  }
}

/** Builds every storage key of the library. */
export function storageKey(scope: KeyScope, kind: KeyKind, key: string): StorageKey {
  assertUserKey(key, kind === 'tag' ? 'tag' : 'key');
  const full = `${scope.namespace}:{${scope.id}}:${kind}:${key}`;
  // Reading a character of a joined string makes V8 flatten it in place into its own string.
  // Unflattened, it points at the caller's string, and a key cut from a longer one (a header, a
  // decoded token) would keep that alive as long as the entry is stored (test/cache/kept-keys).
  // The read is compared, so no compiler drops it (a namespace never starts with ':'). A copy
  // (`ownString`) would do too, but a sliced string makes every store lookup slower.
  if (full.charCodeAt(0) === COLON) throw new InvalidKeyError('namespace', 'it starts with ":"', 'Use a namespace of [A-Za-z0-9._-].');
  return { full, scope, kind };
}

/** The user's key a storage key was built from (what follows `<namespace>:{<scope>}:<kind>:`); `storageKey(key.scope, key.kind, userKeyOf(key))` is `key` again. */
export function userKeyOf(key: StorageKey): string {
  return key.full.slice(key.scope.namespace.length + key.scope.id.length + key.kind.length + 5);
}

/** Escapes Redis glob metacharacters (`* ? [ ] \`) so a pattern matches its text literally. */
export function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** The SCAN pattern matching every key of one scope (all kinds), and nothing else. */
export function scopePattern(scope: KeyScope): string {
  return `${escapeGlob(scope.namespace)}:{${escapeGlob(scope.id)}}:*`;
}

/** A short, stable, non-reversible id of a key for logs and errors; never log the key itself. */
export function keyHash(key: StorageKey | string): string {
  const full = typeof key === 'string' ? key : key.full;
  return createHash('sha256').update(full).digest('base64url').slice(0, 12);
}

/** Another key of the same scope (a tag version or a lock for an entry), through `storageKey()`. */
export function siblingKey(of: StorageKey, kind: KeyKind, key: string): StorageKey {
  return storageKey(of.scope, kind, key);
}
