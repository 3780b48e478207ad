import type { Envelope } from '../../envelope/envelope.js';
import { storageKey, userKeyOf, type KeyScope, type StorageKey } from '../../keys/storage-key.js';

/** A scope's invalidation records: the clock (its key, for routing) and the stored names of clock and epoch. */
export interface ScopeMetaNames {
  /** `storageKey(scope, 'meta', 'clock')`: the key a scope script declares (ioredis prefixes it). */
  readonly clock: StorageKey;
  /** The clock's name as stored (with the client's `keyPrefix`). */
  readonly clockName: string;
  /** `storageKey(scope, 'meta', 'epoch')`. */
  readonly epoch: StorageKey;
  /** The epoch's name as stored (`storageKey(scope, 'meta', 'epoch')` with the client's `keyPrefix`). */
  readonly epochName: string;
}

/** Tag-version keys of one scope, for one invalidation script call. */
export interface ScopeTagGroup {
  readonly scope: KeyScope;
  /** The tags' keys as stored (with the client's `keyPrefix`), deduplicated. */
  readonly names: readonly string[];
  /** The tags themselves (for the bus message). */
  readonly tags: readonly string[];
}

/**
 * The Redis names a store's scripts get as arguments: ioredis adds its `keyPrefix` to declared
 * keys only, so names passed as arguments or stored in an entry's header carry it already.
 * Every name comes from `storageKey()`: no script builds a key.
 */
export class RedisKeyNames {
  /** Per scope object (facades reuse theirs): the names are built once, not on every get. */
  private readonly metas = new WeakMap<KeyScope, ScopeMetaNames>();

  constructor(readonly keyPrefix: string) {}

  /** `full` as stored. */
  stored(full: string): string {
    return this.keyPrefix === '' ? full : this.keyPrefix + full;
  }

  meta(scope: KeyScope): ScopeMetaNames {
    let meta = this.metas.get(scope);
    if (meta === undefined) {
      const clock = storageKey(scope, 'meta', 'clock');
      const epoch = storageKey(scope, 'meta', 'epoch');
      meta = { clock, clockName: this.stored(clock.full), epoch, epochName: this.stored(epoch.full) };
      this.metas.set(scope, meta);
    }
    return meta;
  }

  /** The stored names of an entry's tag-version keys (deduplicated), for its header; [] for an untagged entry. */
  tagNames(key: StorageKey, envelope: Envelope): string[] {
    if (envelope.tags === undefined || envelope.tags.length === 0) return [];
    return [...new Set(envelope.tags.map((tag) => this.stored(storageKey(key.scope, 'tag', tag).full)))];
  }

  /** Tag keys grouped by scope: one script call per group (a scope is one hash slot, two scopes may not be). */
  tagGroups(tagKeys: readonly StorageKey[]): ScopeTagGroup[] {
    const byScope = new Map<string, { scope: KeyScope; names: Set<string>; tags: string[] }>();
    for (const tagKey of tagKeys) {
      const id = `${tagKey.scope.namespace}:${tagKey.scope.id}`;
      let group = byScope.get(id);
      if (group === undefined) byScope.set(id, (group = { scope: tagKey.scope, names: new Set(), tags: [] }));
      const name = this.stored(tagKey.full);
      if (group.names.has(name)) continue;
      group.names.add(name);
      group.tags.push(userKeyOf(tagKey));
    }
    return [...byScope.values()].map(({ scope, names, tags }) => ({ scope, names: [...names], tags }));
  }
}

