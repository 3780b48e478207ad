import { describe, expect, it } from 'vitest';
import { READ_TARGET_BYTES, ReplySizer } from '../../../lib/stores/redis/reply-sizer.js';

const bytes = (n: number): Buffer => Buffer.alloc(n);

describe('ReplySizer', () => {
  it('asks for max keys until a value was read, and misses teach it nothing', () => {
    const sizer = new ReplySizer();
    expect(sizer.knows).toBe(false);
    expect(sizer.keysPerRead(1000)).toBe(1000);
    sizer.learn([null, undefined, null]);
    expect(sizer.knows).toBe(false);
    expect(sizer.keysPerRead(1000)).toBe(1000);
  });

  it('keeps one read near READ_TARGET_BYTES by the average value size, within 1..max', () => {
    const sizer = new ReplySizer();
    sizer.learn([bytes(64 * 1024), null, bytes(64 * 1024)]); // misses are not averaged in
    expect(sizer.knows).toBe(true);
    expect(sizer.keysPerRead(1000)).toBe(READ_TARGET_BYTES / (64 * 1024)); // 16
    expect(sizer.keysPerRead(10)).toBe(10);
    const huge = new ReplySizer();
    huge.learn([bytes(4 * READ_TARGET_BYTES)]);
    expect(huge.keysPerRead(1000)).toBe(1); // never 0
    const tiny = new ReplySizer();
    tiny.learn([bytes(10)]);
    expect(tiny.keysPerRead(1000)).toBe(1000);
  });

  it('moves a quarter of the way per reply, so one odd reply does not swing the read size', () => {
    const sizer = new ReplySizer();
    sizer.learn([bytes(1024)]);
    sizer.learn([bytes(1024 + 4 * 4096)]); // average 1024 + (16384 / 4) = 5120
    expect(sizer.keysPerRead(100_000)).toBe(Math.floor(READ_TARGET_BYTES / 5120));
    for (let i = 0; i < 40; i++) sizer.learn([bytes(256 * 1024)]);
    // Converged on the new size: 4 keys of 256 KiB per read.
    expect(sizer.keysPerRead(1000)).toBe(4);
  });
});
