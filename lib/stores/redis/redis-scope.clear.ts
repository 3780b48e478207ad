import { Cluster, type Redis } from 'ioredis';
import { escapeGlob, scopePattern, type KeyScope } from '../../keys/storage-key.js';
import { readKeyPrefix } from './redis-client.factory.js';

/** Keys per UNLINK: big enough to be cheap, small enough not to block Redis. */
const UNLINK_BATCH = 500;
const SCAN_COUNT = 1_000;

/**
 * Deletes every key of `scope` (entries, tag indexes, locks) with SCAN and UNLINK, on the server
 * or on every primary of a Cluster; resolves how many were deleted. `keyPrefix` is the client's
 * ioredis `keyPrefix`.
 */
export async function clearScopeKeys(client: Redis | Cluster, keyPrefix: string, scope: KeyScope): Promise<number> {
  // SCAN ignores ioredis keyPrefix: match on the prefixed name ourselves.
  const pattern = escapeGlob(keyPrefix) + scopePattern(scope);
  const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
  const counts = await Promise.all(nodes.map((node) => clearOnNode(node, pattern)));
  return counts.reduce((a, b) => a + b, 0);
}

async function clearOnNode(node: Redis, pattern: string): Promise<number> {
  // SCAN returns the stored names (with the prefix); UNLINK through the client adds the
  // client's own prefix again, so strip exactly that one.
  const nodePrefix = Buffer.from(readKeyPrefix(node), 'utf8');
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    cursor = next.toString();
    const names = found.filter((name) => name.subarray(0, nodePrefix.length).equals(nodePrefix)).map((name) => name.subarray(nodePrefix.length));
    for (let i = 0; i < names.length; i += UNLINK_BATCH) {
      deleted += await node.unlink(...names.slice(i, i + UNLINK_BATCH));
    }
  } while (cursor !== '0');
  return deleted;
}
