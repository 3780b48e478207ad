import { describe, expect, it } from 'vitest';
import { clusterSlot } from '../../../lib/stores/redis/cluster-slot.js';

// Values from Redis's CLUSTER KEYSLOT (the Cluster spec's examples); the store's own Cluster
// suite checks many more keys against a real node (test/stores/redis-cluster.store.spec.ts).
describe('clusterSlot', () => {
  it.each([
    ['123456789', 12739],
    ['foo', 12182],
    ['bar', 5061],
  ])('%s is in slot %i', (key, slot) => {
    expect(clusterSlot(key)).toBe(slot);
  });

  it('hashes only the hash tag: the content of the first {...} that is not empty', () => {
    expect(clusterSlot('{user1000}.following')).toBe(clusterSlot('user1000'));
    expect(clusterSlot('ns:{t.acme}:entry:k')).toBe(clusterSlot('t.acme'));
    expect(clusterSlot('foo{{bar}}zap')).toBe(clusterSlot('{bar'));
    // An empty first tag means the whole key.
    expect(clusterSlot('foo{}{bar}')).not.toBe(clusterSlot('bar'));
    expect(clusterSlot('{}x')).toBe(clusterSlot('{}x'));
  });
});
