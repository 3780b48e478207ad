/**
 * A map bounded in entries that keeps what is in use: two generations of at most `maxPerGeneration`
 * entries each. New and recently read entries go into the young one; when it fills up it becomes
 * the old one and the old one is dropped. An entry read from the old generation moves back into
 * the young one. So an entry read at least once every `maxPerGeneration` insertions is kept (a
 * working set that fits never pays more than one Map lookup per read), and at most
 * `2 * maxPerGeneration` entries are held however many keys come (hostile ones included). What
 * it drops only costs a rebuild: hold nothing here that cannot be made again.
 *
 * Unlike an LRU list it costs nothing on a read of the young generation (one Map lookup), which
 * is what a per-request lookup needs.
 */
export class GenerationalMap<K, V> {
  private young = new Map<K, V>();
  private old = new Map<K, V>();

  /**
   * @param keyOf The key a value was stored under, for a map whose keys are kept copies (see
   *   `ownString`): an entry read from the old generation moves back under that key, not under
   *   the caller's equal string (which may keep a longer string alive). Default: the caller's.
   */
  constructor(
    private readonly maxPerGeneration: number,
    private readonly keyOf?: (value: V) => K,
  ) {}

  get(key: K): V | undefined {
    const found = this.young.get(key);
    if (found !== undefined) return found;
    const kept = this.old.get(key);
    if (kept !== undefined) this.set(this.keyOf === undefined ? key : this.keyOf(kept), kept);
    return kept;
  }

  set(key: K, value: V): void {
    this.young.set(key, value);
    if (this.young.size >= this.maxPerGeneration) {
      this.old = this.young;
      this.young = new Map();
    }
  }

  /** Forgets `key` in both generations. */
  delete(key: K): void {
    this.young.delete(key);
    this.old.delete(key);
  }

  /** Entries held (both generations; a key in both counts twice). */
  get size(): number {
    return this.young.size + this.old.size;
  }

  clear(): void {
    this.young = new Map();
    this.old = new Map();
  }
}
