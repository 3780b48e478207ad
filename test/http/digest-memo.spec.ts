import { describe, expect, it } from 'vitest';
import { DigestMemo } from '../../lib/http/digest-memo.js';

describe('DigestMemo', () => {
  const counting = () => {
    const calls: string[] = [];
    return { calls, fn: (s: string) => (calls.push(s), `d(${s})`) };
  };

  it('computes an input once while it is remembered, and returns exactly its digest', () => {
    const { calls, fn } = counting();
    const memo = new DigestMemo(fn, 4, 100);
    expect(memo.get('a')).toBe('d(a)');
    expect(memo.get('a')).toBe('d(a)');
    expect(memo.get('b')).toBe('d(b)');
    expect(memo.get('a')).toBe('d(a)');
    expect(calls).toEqual(['a', 'b']);
  });

  it('holds at most two generations of maxEntries, keeping the recently used', () => {
    const { calls, fn } = counting();
    const memo = new DigestMemo(fn, 4, 100);
    for (let i = 0; i < 1_000; i++) {
      memo.get(`k${i}`);
      memo.get('hot'); // used all along: never dropped
      expect(memo.size).toBeLessThanOrEqual(8);
    }
    expect(calls.filter((c) => c === 'hot')).toHaveLength(1);
    // An input from long ago was dropped: computed again, same digest.
    expect(memo.get('k0')).toBe('d(k0)');
    expect(calls.filter((c) => c === 'k0')).toHaveLength(2);
  });

  it('never keeps an input longer than maxInputLength', () => {
    const { calls, fn } = counting();
    const memo = new DigestMemo(fn, 4, 10);
    const long = 'x'.repeat(11);
    expect(memo.get(long)).toBe(`d(${long})`);
    expect(memo.get(long)).toBe(`d(${long})`);
    expect(calls).toEqual([long, long]);
    expect(memo.size).toBe(0);
  });
});
