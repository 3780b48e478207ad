/**
 * Bytes one read's reply should stay under: with large entries (up to `maxPayloadBytes`, 1 MiB by
 * default) a read of hundreds of keys could make a reply of hundreds of MiB, which Redis writes
 * out while every other client of it waits, and which every get of the read waits for.
 */
export const READ_TARGET_BYTES = 1024 * 1024;

/**
 * How many keys one read may ask for, so its reply stays near `READ_TARGET_BYTES`: the average
 * size of the values read so far decides (nothing is known of a value before it is read). The
 * single-get batcher keeps one per store; `getMany` one per scope.
 */
export class ReplySizer {
  /** Average bytes of the values read (a moving average; 0 until one was read). */
  private averageValueBytes = 0;
  /** Set by a caller that probed sizes with a small read which found no value: it need not probe again. */
  probed = false;

  /** Whether a value was read yet (before, `keysPerRead` says `max`). */
  get knows(): boolean {
    return this.averageValueBytes !== 0;
  }

  /** Keys per read: `READ_TARGET_BYTES` over the average value size, from 1 to `max` (`max` while nothing was read). */
  keysPerRead(max: number): number {
    if (this.averageValueBytes === 0) return max;
    return Math.max(1, Math.min(max, Math.floor(READ_TARGET_BYTES / this.averageValueBytes)));
  }

  /** Learns from one reply's values (null: a miss, which says nothing of sizes). */
  learn(values: readonly (Buffer | null | undefined)[]): void {
    let bytes = 0;
    let found = 0;
    for (const value of values) {
      if (value !== null && value !== undefined) {
        bytes += value.length;
        found++;
      }
    }
    if (found === 0) return;
    const average = bytes / found;
    // Moves a quarter of the way per reply: one odd reply does not swing the read size.
    this.averageValueBytes = this.averageValueBytes === 0 ? average : this.averageValueBytes + (average - this.averageValueBytes) / 4;
  }
}
