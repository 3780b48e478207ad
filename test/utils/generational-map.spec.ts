import { describe, expect, it } from 'vitest';
import { GenerationalMap } from '../../lib/utils/generational-map.js';

describe('GenerationalMap', () => {
  it('keeps a working set of up to maxPerGeneration keys however often it is cycled', () => {
    const map = new GenerationalMap<string, number>(100);
    for (let i = 0; i < 100; i++) map.set(`k${i}`, i);
    for (let round = 0; round < 5; round++) for (let i = 0; i < 100; i++) expect(map.get(`k${i}`)).toBe(i);
    expect(map.size).toBeLessThanOrEqual(200);
  });

  it('holds at most 2 x maxPerGeneration entries whatever keys come, and drops the least recently used generation', () => {
    const map = new GenerationalMap<number, number>(10);
    for (let i = 0; i < 1_000; i++) {
      map.set(i, i);
      expect(map.size).toBeLessThanOrEqual(20);
    }
    expect(map.get(0)).toBeUndefined();
    expect(map.get(999)).toBe(999);
  });

  it('moves a key read from the old generation back into the young one', () => {
    const map = new GenerationalMap<string, string>(2);
    map.set('a', 'A');
    map.set('b', 'B'); // young full: {a, b} becomes old
    expect(map.get('a')).toBe('A'); // back in young
    map.set('c', 'C'); // young {a, c} full: becomes old, {a, b} dropped
    expect(map.get('b')).toBeUndefined();
    expect(map.get('a')).toBe('A');
    expect(map.get('c')).toBe('C');
  });

  it('deletes a key from both generations', () => {
    const map = new GenerationalMap<string, string>(2);
    map.set('a', 'A');
    map.set('b', 'B'); // {a, b} becomes old
    map.set('c', 'C'); // young {c}
    map.delete('a');
    map.delete('c');
    expect(map.get('a')).toBeUndefined();
    expect(map.get('c')).toBeUndefined();
    expect(map.get('b')).toBe('B');
  });
});
