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
  private young = new Map<string, string>();
  private old = new Map<string, string>();

  constructor(
    private readonly compute: (input: string) => string,
    private readonly maxEntries: number,
    private readonly maxInputLength: number,
  ) {}

  get(input: string): string {
    if (input.length > this.maxInputLength) return this.compute(input);
    let digest = this.young.get(input);
    if (digest !== undefined) return digest;
    digest = this.old.get(input) ?? this.compute(input);
    this.young.set(input, digest);
    if (this.young.size >= this.maxEntries) {
      this.old = this.young;
      this.young = new Map();
    }
    return digest;
  }

  /** Entries held (both generations; an input in both counts twice). For tests. */
  get size(): number {
    return this.young.size + this.old.size;
  }

  /** Forgets everything. For tests. */
  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }
}
