import { describe, expect, it } from 'vitest';
import { CacheConfigError } from '../../lib/errors/cache.errors.js';
import { MemoryStore } from '../../lib/stores/memory.store.js';
import { resolveRedisStoreOptions } from '../../lib/stores/redis-store-options.js';
import { parseByteSize, type ByteSize } from '../../lib/utils/byte-size.js';

describe('parseByteSize', () => {
  it.each<[ByteSize, number]>([
    [1, 1],
    [1500, 1500],
    [12.9, 12],
    ['512b', 512],
    ['64kb', 65_536],
    ['1mb', 1_048_576],
    ['64mb', 67_108_864],
    ['1.5gb', 1_610_612_736],
    ['64MB', 67_108_864],
    ['2KB', 2048],
  ])('%s is %i bytes', (input, bytes) => {
    expect(parseByteSize(input, 'maxBytes')).toBe(bytes);
  });

  it.each<unknown>([0, -1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, '', '64', '64m', '64MiB', '64 mb', '64Mb', 'lots', '-1kb', '2tb', '1025gb', null, {}])('%s is refused with a CacheConfigError naming the option and the fix', (input) => {
    let caught: unknown;
    try {
      parseByteSize(input, 'store.maxBytes');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CacheConfigError);
    expect((caught as CacheConfigError).option).toBe('store.maxBytes');
    expect((caught as Error).message).toContain("'64mb'");
  });

  it('maxBytes and limits.maxPayloadBytes take size strings', () => {
    const store = new MemoryStore({ maxBytes: '2mb', sweepInterval: 0 });
    expect(store.bounds.maxBytes).toBe(2 * 1024 * 1024);
    void store.close();
    expect(resolveRedisStoreOptions({ url: 'redis://127.0.0.1:1', limits: { maxPayloadBytes: '512kb' } }).limits.maxPayloadBytes).toBe(512 * 1024);
    expect(() => resolveRedisStoreOptions({ url: 'redis://127.0.0.1:1', limits: { maxPayloadBytes: '1 megabyte' as ByteSize } })).toThrow(/limits\.maxPayloadBytes/);
  });
});
