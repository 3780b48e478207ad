import { GLOBAL_SCOPE, KeyScope, storageKey, userKeyOf, type StorageKey } from '../../keys/storage-key.js';

/**
 * What one instance tells the others over the invalidation bus, so each drops the affected
 * entries of its L1: an entry written or deleted, tags of a scope invalidated, a scope cleared.
 */
export type BusChange =
  | { readonly op: 'key'; readonly key: StorageKey }
  | { readonly op: 'tags'; readonly scope: KeyScope; readonly tags: readonly string[] }
  | { readonly op: 'clear'; readonly scope: KeyScope };

export interface BusMessage {
  /** The instance that sent it (an instance ignores its own). */
  readonly origin: string;
  readonly change: BusChange;
}

/**
 * The bus channel of one Redis (or Cluster) and key prefix. ioredis never prefixes channels (they
 * are not keys), so the prefix is written here: apps kept apart by `keyPrefix` hear only their own.
 */
export function busChannel(keyPrefix: string): string {
  return `${keyPrefix}ntc:bus`;
}

const VERSION = 1;
const OPS = { key: 'k', tags: 't', clear: 'c' } as const;

/**
 * The message as sent: a JSON array `[1, origin, op, namespace, tenant | null, ...payload]`
 * (payload: the entry's user key, or the tags). The tenant and keys travel as they are, so the
 * receiver builds the storage keys again with `storageKey()`, the one builder of keys.
 */
export function encodeBusMessage(origin: string, change: BusChange): string {
  const scope = change.op === 'key' ? change.key.scope : change.scope;
  const head = [VERSION, origin, OPS[change.op], scope.namespace, scope.tenant ?? null];
  if (change.op === 'key') return JSON.stringify([...head, userKeyOf(change.key)]);
  if (change.op === 'tags') return JSON.stringify([...head, ...change.tags]);
  return JSON.stringify(head);
}

/** The message, or `undefined` for anything that is not one (another version, garbage, a bad key). */
export function decodeBusMessage(text: string): BusMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed[0] !== VERSION || parsed.length < 5) return undefined;
  const [, origin, op, namespace, tenant, ...payload] = parsed as unknown[];
  if (typeof origin !== 'string' || typeof namespace !== 'string' || (tenant !== null && typeof tenant !== 'string')) return undefined;
  if (!payload.every((p): p is string => typeof p === 'string')) return undefined;
  try {
    const scope = KeyScope.of(namespace, tenant ?? GLOBAL_SCOPE);
    if (op === OPS.key && payload.length === 1) return { origin, change: { op: 'key', key: storageKey(scope, 'entry', payload[0]!) } };
    if (op === OPS.tags && payload.length > 0) {
      for (const tag of payload) storageKey(scope, 'tag', tag); // validates each tag
      return { origin, change: { op: 'tags', scope, tags: payload } };
    }
    if (op === OPS.clear && payload.length === 0) return { origin, change: { op: 'clear', scope } };
  } catch {
    // An invalid namespace, tenant or key: not a message of ours.
  }
  return undefined;
}

/** Tag keys by scope (tags are per scope): one bus message each. */
export function byScope(tagKeys: readonly StorageKey[]): Array<{ scope: KeyScope; tags: string[] }> {
  const groups = new Map<string, { scope: KeyScope; tags: string[] }>();
  for (const tagKey of tagKeys) {
    const id = `${tagKey.scope.namespace}:${tagKey.scope.id}`;
    let group = groups.get(id);
    if (group === undefined) groups.set(id, (group = { scope: tagKey.scope, tags: [] }));
    group.tags.push(userKeyOf(tagKey));
  }
  return [...groups.values()];
}
