import { Cluster, type Redis } from 'ioredis';
import { escapeGlob, scopePattern, type KeyScope } from '../../keys/storage-key.js';
import { withDeadline } from './redis-command.deadline.js';
import { COMMAND_TIMED_OUT } from './redis.failures.js';

/** Keys per delete (at most 1,000): small enough that one takes Redis well under a millisecond (100,000 keys: ~1,000 round trips, ~1.2 s). */
const UNLINK_BATCH = 100;
const SCAN_COUNT = 250;

/**
 * Deletes keys of one scope (one hash slot), given without the client's `keyPrefix`; resolves
 * how many existed. The store's deadline-checked delete script, so a batch that timed out is
 * never applied later.
 */
export type DeleteKeys = (names: readonly Buffer[]) => Promise<number>;

/**
 * Deletes every key of `scope` (entries, tag versions, locks) but those named in `keep` (stored
 * names: the scope's clock and epoch, which the purge turns into a tombstone instead) with SCAN
 * and `deleteKeys`, on the server or on every primary of a Cluster; resolves how many were
 * deleted. `keyPrefix` is the client's ioredis `keyPrefix`. Not atomic: a purge that fails part
 * way has deleted the batches before the failing one (and, each batch being all or nothing, none
 * of the failing one). Each SCAN settles within `timeoutMs` of being issued (the purge as a
 * whole may take longer); no command touches more than `SCAN_COUNT` or `UNLINK_BATCH` keys.
 */
export async function purgeScopeKeys(client: Redis | Cluster, keyPrefix: string, scope: KeyScope, keep: readonly string[], deleteKeys: DeleteKeys, timeoutMs: number): Promise<number> {
  // SCAN ignores ioredis keyPrefix: match on the prefixed name ourselves.
  const pattern = escapeGlob(keyPrefix) + scopePattern(scope);
  const kept = keep.map((name) => Buffer.from(name, 'utf8'));
  const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
  const counts = await Promise.all(nodes.map((node) => purgeOnNode(node, pattern, Buffer.from(keyPrefix, 'utf8'), kept, deleteKeys, timeoutMs)));
  return counts.reduce((a, b) => a + b, 0);
}

async function purgeOnNode(node: Redis, pattern: string, prefix: Buffer, kept: readonly Buffer[], deleteKeys: DeleteKeys, timeoutMs: number): Promise<number> {
  const timedOut = (): Error => new Error(COMMAND_TIMED_OUT);
  // SCAN returns the stored names (with the prefix); the delete goes through the client, which
  // adds its prefix again (and, on a Cluster, routes the batch to the slot's node), so strip it.
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await withDeadline(node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT), timeoutMs, timedOut);
    cursor = next.toString();
    const names = found.filter((name) => name.subarray(0, prefix.length).equals(prefix) && !kept.some((k) => k.equals(name))).map((name) => name.subarray(prefix.length));
    for (let i = 0; i < names.length; i += UNLINK_BATCH) {
      deleted += await deleteKeys(names.slice(i, i + UNLINK_BATCH));
    }
  } while (cursor !== '0');
  return deleted;
}
