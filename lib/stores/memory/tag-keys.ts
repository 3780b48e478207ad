import { storageKey, type StorageKey } from '../../keys/storage-key.js';

/** The storage keys of an entry's tags (of its scope), deduplicated; `undefined` for none. */
export function tagKeysOf(key: StorageKey, tags: readonly string[] | undefined): string[] | undefined {
  if (tags === undefined || tags.length === 0) return undefined;
  const out = new Set<string>();
  for (const tag of tags) out.add(storageKey(key.scope, 'tag', tag).full);
  return [...out];
}
