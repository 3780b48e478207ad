import { GenerationalMap } from '../utils/generational-map.js';

/**
 * Remembers recent results of a pure string function (here: SHA-256 of a request's canonical
 * encoding), so a hot key is hashed once, not on every hit.
 *
 * It is exact: an input is found only by string equality with the input it was computed from,
 * so it can never return another input's digest (the safety of the hash is untouched; the memo
 * saves the work, not the comparison).
 *
 * Bounded in entries and in bytes: two generations of at most `maxEntries` each (when the young
 * one fills up it becomes the old one, and the old one is dropped, so recently used inputs
 * survive), and inputs longer than `maxInputLength` characters are never kept. At most
 * `2 * maxEntries * maxInputLength` characters are held, however hostile the inputs.
 */
export class DigestMemo {
  private readonly memo: GenerationalMap<string, string>;

  constructor(
    private readonly compute: (input: string) => string,
    maxEntries: number,
    private readonly maxInputLength: number,
  ) {
    this.memo = new GenerationalMap(maxEntries);
  }

  get(input: string): string {
    if (input.length > this.maxInputLength) return this.compute(input);
    let digest = this.memo.get(input);
    if (digest !== undefined) return digest;
    digest = this.compute(input);
    this.memo.set(input, digest);
    return digest;
  }

  /** Entries held (both generations; an input in both counts twice). For tests. */
  get size(): number {
    return this.memo.size;
  }

  /** Forgets everything. For tests. */
  clear(): void {
    this.memo.clear();
  }
}
