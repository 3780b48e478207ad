import { Cluster, type Redis } from 'ioredis';
import { escapeGlob, scopePattern, type KeyScope } from '../../keys/storage-key.js';
import { readKeyPrefix } from './redis-client.factory.js';
import { withDeadline } from './redis-command.deadline.js';
import { COMMAND_TIMED_OUT } from './redis.failures.js';

/** Keys per UNLINK: big enough to be cheap, small enough not to block Redis. */
const UNLINK_BATCH = 500;
const SCAN_COUNT = 1_000;

/**
 * Deletes every key of `scope` (entries, tag indexes, locks) with SCAN and UNLINK, on the server
 * or on every primary of a Cluster; resolves how many were deleted. `keyPrefix` is the client's
 * ioredis `keyPrefix`. Each command settles within `timeoutMs` of being issued (the clear as a
 * whole may take longer: a large scope is many commands).
 */
export async function clearScopeKeys(client: Redis | Cluster, keyPrefix: string, scope: KeyScope, timeoutMs: number): Promise<number> {
  // SCAN ignores ioredis keyPrefix: match on the prefixed name ourselves.
  const pattern = escapeGlob(keyPrefix) + scopePattern(scope);
  const nodes: Redis[] = client instanceof Cluster ? client.nodes('master') : [client];
  const counts = await Promise.all(nodes.map((node) => clearOnNode(node, pattern, timeoutMs)));
  return counts.reduce((a, b) => a + b, 0);
}

async function clearOnNode(node: Redis, pattern: string, timeoutMs: number): Promise<number> {
  const timedOut = (): Error => new Error(COMMAND_TIMED_OUT);
  // SCAN returns the stored names (with the prefix); UNLINK through the client adds the
  // client's own prefix again, so strip exactly that one.
  const nodePrefix = Buffer.from(readKeyPrefix(node), 'utf8');
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, found] = await withDeadline(node.scanBuffer(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT), timeoutMs, timedOut);
    cursor = next.toString();
    const names = found.filter((name) => name.subarray(0, nodePrefix.length).equals(nodePrefix)).map((name) => name.subarray(nodePrefix.length));
    for (let i = 0; i < names.length; i += UNLINK_BATCH) {
      deleted += await withDeadline(node.unlink(...names.slice(i, i + UNLINK_BATCH)), timeoutMs, timedOut);
    }
  } while (cursor !== '0');
  return deleted;
}
