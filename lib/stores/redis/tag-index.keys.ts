import type { Envelope } from '../../envelope/envelope.js';
import { siblingKey, type StorageKey } from '../../keys/storage-key.js';

/** The tag index keys (full, deduplicated) an entry is listed under; [] for an untagged entry. */
export function tagIndexKeys(key: StorageKey, envelope: Envelope): string[] {
  if (envelope.tags === undefined || envelope.tags.length === 0) return [];
  return [...new Set(envelope.tags.map((tag) => siblingKey(key, 'tag', tag).full))];
}

/**
 * Tag index keys (full, deduplicated) grouped by scope: one script call per group, since the
 * keys of a scope share a hash slot and those of two scopes may not.
 */
export function tagIndexKeysByScope(tagKeys: readonly StorageKey[]): string[][] {
  const byScope = new Map<string, Set<string>>();
  for (const tagKey of tagKeys) {
    const id = `${tagKey.scope.namespace}:${tagKey.scope.id}`;
    let keys = byScope.get(id);
    if (keys === undefined) byScope.set(id, (keys = new Set()));
    keys.add(tagKey.full);
  }
  return [...byScope.values()].map((keys) => [...keys]);
}
