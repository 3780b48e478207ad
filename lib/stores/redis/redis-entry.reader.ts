import { LRUCache } from 'lru-cache';
import { digitsOrNaN, readEntryHeader } from '../../envelope/wire.js';
import type { KeyScope, StorageKey } from '../../keys/storage-key.js';
import type { RedisKeyNames } from './redis-key.names.js';


/**
 * Bytes of an entry the snapshot showed under an unknown epoch or tag version (the key lost):
 * returned all the same, so garbage among them is still decoded, deleted and counted, but never
 * served (`RedisEntryDecoder` reads a decodable one as a miss).
 */
const untrusted = new WeakSet<Buffer>();

/** Whether `bytes` came from a read that may not serve them (see `untrusted`). */
export function isUntrusted(bytes: Buffer): boolean {
  return untrusted.has(bytes);
}

/** Keys whose tags the reader remembers, at most (their tag-version keys go into the same MGET). */
const MAX_HINTS = 10_000;

/** An entry's tag-version keys, as last read: as MGET takes them (no prefix) and as its header names them (stored names). */
interface TagHint {
  readonly keys: readonly string[];
  readonly names: readonly Buffer[];
}

/** The MGET cannot decide this entry: read it again with the script. */
const AGAIN = Symbol('read again');

/**
 * Reads entries of one hash slot, each checked against its scope's epoch and its tags' versions
 * read in the same round trip, so an entry a clear or a tag invalidation made unreadable is never
 * returned (the rule of redis/redis-entry.lua.ts: epoch and every tag version <= the entry's basis).
 *
 * One MGET carries the entries, their scopes' epochs and, for keys read before, the tag-version
 * keys their entries carried then (remembered per key, `MAX_HINTS`): an atomic snapshot, checked
 * here. That costs Redis what a plain MGET does (a read script costs it ~20x: every GET through
 * Lua); untagged entries, and tagged ones whose tags are remembered, need nothing more. What the
 * snapshot cannot decide (a tagged entry read for the first time or rewritten with other tags, a
 * tag-version key missing or of another type, bytes that are no entry) is read again with the
 * read script, which checks it against what it finds itself: a second round trip for those only.
 */
export class RedisEntryReader {
  private readonly hints = new LRUCache<string, TagHint>({ max: MAX_HINTS });

  constructor(
    private readonly names: RedisKeyNames,
    /** MGET of unprefixed keys (the client prefixes them). */
    private readonly mget: (keys: readonly string[]) => Promise<(Buffer | null)[]>,
    /** The read script: `epochNames[i]` is key i's scope's epoch (stored name), '' when the key before it has the same. */
    private readonly script: (keys: readonly StorageKey[], epochNames: readonly string[]) => Promise<(Buffer | null)[]>,
  ) {}

  /** Each key's entry bytes, or null for a miss or an entry that may not be read. */
  async read(keys: readonly StorageKey[]): Promise<(Buffer | null)[]> {
    const args: string[] = [];
    const entryAt = new Array<number>(keys.length);
    const epochAt = new Array<number>(keys.length);
    const hints = new Array<TagHint | undefined>(keys.length);
    let epochs: Map<string, number> | undefined;
    let lastScope: KeyScope | undefined;
    let lastEpoch = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (key.scope !== lastScope) {
        const epoch = this.names.meta(key.scope).epoch.full;
        let at = epochs?.get(epoch);
        if (at === undefined) (epochs ??= new Map()).set(epoch, (at = args.push(epoch) - 1));
        lastScope = key.scope;
        lastEpoch = at;
      }
      epochAt[i] = lastEpoch;
      entryAt[i] = args.push(key.full) - 1;
      const hint = this.hints.get(key.full);
      hints[i] = hint;
      if (hint !== undefined) for (const tagKey of hint.keys) args.push(tagKey);
    }
    const reply = await this.mget(args);
    const out = new Array<Buffer | null>(keys.length);
    let again: number[] | undefined;
    for (let i = 0; i < keys.length; i++) {
      const checked = this.check(keys[i]!, reply, entryAt[i]!, epochAt[i]!, hints[i]);
      if (checked === AGAIN) (again ??= []).push(i);
      else out[i] = checked;
    }
    if (again !== undefined) {
      const rest = again.map((i) => keys[i]!);
      const reread = await this.readChecked(rest);
      for (let j = 0; j < again.length; j++) {
        out[again[j]!] = reread[j] ?? null;
        this.learn(rest[j]!, reread[j] ?? null);
      }
    }
    return out;
  }

  /** Keys of one hash slot through the read script only (it checks them itself). */
  readChecked(keys: readonly StorageKey[]): Promise<(Buffer | null)[]> {
    const epochNames = new Array<string>(keys.length);
    let last: string | undefined;
    for (let i = 0; i < keys.length; i++) {
      const scope = keys[i]!.scope;
      const epoch = i > 0 && scope === keys[i - 1]!.scope ? last! : this.names.meta(scope).epochName;
      epochNames[i] = epoch === last ? '' : epoch;
      last = epoch;
    }
    return this.script(keys, epochNames);
  }

  /** The entry if the snapshot shows it readable, null if it shows it not, AGAIN if it cannot tell. */
  private check(key: StorageKey, reply: readonly (Buffer | null)[], entryAt: number, epochAt: number, hint: TagHint | undefined): Buffer | null | typeof AGAIN {
    const bytes = reply[entryAt];
    if (bytes === null || bytes === undefined) return null;
    const header = readEntryHeader(bytes);
    // No header this version reads: garbage or another wire version, which `decodeEntry` refuses
    // too (wire.ts), so the store drops and counts it; nothing the script could say changes that.
    if (header === undefined) return bytes;
    // No epoch (lost, or of another type): unknown, so the entry is not served (redis-entry.lua.ts);
    // handed on untrusted, so garbage is still found and dropped.
    const epoch = stored(reply[epochAt], Number.NaN);
    if (reply[epochAt] === null || reply[epochAt] === undefined) {
      untrusted.add(bytes);
      return bytes;
    }
    if (Number.isNaN(epoch)) return AGAIN;
    if (epoch > header.basis) return null;
    const ranges = header.tagNames;
    if (ranges.length === 0) {
      if (hint !== undefined) this.hints.delete(key.full);
      return bytes;
    }
    if (hint === undefined || hint.names.length * 2 !== ranges.length) return AGAIN;
    let unsure = false;
    for (let j = 0; j < hint.names.length; j++) {
      const name = hint.names[j]!;
      const start = ranges[2 * j]!;
      if (ranges[2 * j + 1]! - start !== name.length || bytes.compare(name, 0, name.length, start, start + name.length) !== 0) return AGAIN;
      // Missing, or of another type (MGET says nil for both): unknown, the entry is not read.
      const cell = reply[entryAt + 1 + j];
      if (cell === null || cell === undefined) {
        untrusted.add(bytes);
        return bytes;
      }
      const version = stored(cell, Number.NaN);
      if (Number.isNaN(version)) unsure = true;
      else if (version > header.basis) return null;
    }
    return unsure ? AGAIN : bytes;
  }

  /** Remembers the tag-version keys of an entry the script returned (forgets them for an untagged or missing one). */
  private learn(key: StorageKey, bytes: Buffer | null): void {
    const header = bytes === null ? undefined : readEntryHeader(bytes);
    if (bytes === null || header === undefined || header.tagNames.length === 0) {
      this.hints.delete(key.full);
      return;
    }
    const prefix = this.names.keyPrefix.length;
    const names: Buffer[] = [];
    const tagKeys: string[] = [];
    for (let j = 0; j < header.tagNames.length; j += 2) {
      // A copy: the reply is a view into the client's read buffer.
      const name = Buffer.from(bytes.subarray(header.tagNames[j]!, header.tagNames[j + 1]!));
      names.push(name);
      tagKeys.push(name.toString('utf8', prefix));
    }
    this.hints.set(key.full, { keys: tagKeys, names });
  }
}

/** A stored number (an epoch, a version) as MGET returned it: `absent` for nil, NaN for anything but digits. */
function stored(value: Buffer | null | undefined, absent: number): number {
  if (value === null || value === undefined) return absent;
  return value.length === 0 ? Number.NaN : digitsOrNaN(value, 0, value.length);
}
