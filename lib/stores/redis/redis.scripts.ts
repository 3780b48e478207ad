import type { Cluster, Redis } from 'ioredis';
import type { StorageKey } from '../../keys/storage-key.js';
import { encodeBusMessage, type BusChange } from '../tiered/bus-message.js';
import { COMPARE_AND_SET_LUA, DELETE_ENTRIES_LUA, GET_OR_SET_LUA, PULL_LUA, READ_LUA, SET_LUA } from './redis-entry.lua.js';
import type { ScopeMetaNames } from './redis-key.names.js';
import { BASIS_LUA, CLEAR_SCOPE_LUA, INVALIDATE_TAGS_LUA, TOMBSTONE_LUA } from './redis-scope.lua.js';
import { WRITE_WINDOW_LUA, type WriteDeadlines } from './write-deadline.js';

/**
 * The Lua scripts of `RedisStore`, registered with ioredis `defineCommand` (EVALSHA, with EVAL
 * on first use per connection and on NOSCRIPT). Every key a script touches belongs to one scope,
 * and all keys of a scope share the `{scope}` hash tag, so each script runs in one Cluster slot.
 * The entry scripts (read, set, getOrSet, compareAndSet) are in redis-entry.lua.ts, the scope
 * scripts (basis, invalidation, clear, a purge's tombstone) in redis-scope.lua.ts; the deletes
 * and locks here.
 *
 * Every script that writes (or may) takes a deadline window as ARGV[1] and ARGV[2] and does
 * nothing but reply with an error when Redis runs it too late (see write-deadline.ts): a write
 * the caller was told timed out never lands afterwards. The two that only read (an entry batch,
 * a basis) take none. A write that changes what other instances may hold in their memory also
 * publishes its bus message (`RedisBus`), in the same script: atomic with the change, and never
 * for a write that was refused.
 */

/** KEYS[1]; ARGV[3] bytes. Deletes the key only if it still holds exactly those bytes. Returns 1 or 0. */
export const COMPARE_AND_DELETE_LUA = `${WRITE_WINDOW_LUA}
local _, refused = check_window()
if refused then return refused end
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'string' and cur == ARGV[3] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS[1] and ARGV[3..]: keys of one scope (already prefixed), a purge's batch. UNLINKs them all; returns how many existed. */
export const DELETE_LUA = `${WRITE_WINDOW_LUA}
local _, refused = check_window()
if refused then return refused end
local n = redis.call('UNLINK', KEYS[1])
for j = 3, #ARGV, 500 do
  n = n + redis.call('UNLINK', unpack(ARGV, j, math.min(j + 499, #ARGV)))
end
return n
`;

/** KEYS[1] the lock; ARGV[3] token, ARGV[4] ttl ms. `SET NX PX`: returns 1 if the token now holds it, 0 if another does. */
export const ACQUIRE_LOCK_LUA = `${WRITE_WINDOW_LUA}
local _, refused = check_window()
if refused then return refused end
if redis.call('SET', KEYS[1], ARGV[3], 'PX', tonumber(ARGV[4]), 'NX') then return 1 end
return 0
`;

type ScriptArg = string | Buffer | number;
type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;

const SCRIPTS = {
  ntcRead: READ_LUA,
  ntcSet: SET_LUA,
  ntcGetOrSet: GET_OR_SET_LUA,
  ntcCompareAndSet: COMPARE_AND_SET_LUA,
  ntcCompareAndDelete: COMPARE_AND_DELETE_LUA,
  ntcDeleteEntries: DELETE_ENTRIES_LUA,
  ntcPull: PULL_LUA,
  ntcDelete: DELETE_LUA,
  ntcAcquireLock: ACQUIRE_LOCK_LUA,
  ntcBasis: BASIS_LUA,
  ntcInvalidateTags: INVALIDATE_TAGS_LUA,
  ntcClearScope: CLEAR_SCOPE_LUA,
  ntcTombstone: TOMBSTONE_LUA,
} as const;

/**
 * Where the store's mutating scripts publish, for the invalidation bus of a tiered store: each
 * message (`encodeBusMessage`) names this instance as its origin. Internal (see RedisStore).
 */
export interface RedisBus {
  readonly channel: string;
  readonly origin: string;
}

/**
 * Calls the scripts on one client; defines them (`defineCommand`, names prefixed `ntc` so they
 * cannot clash with a user's) when created, before any pipeline exists: an ioredis pipeline
 * copies the commands defined when it is made, so defining one later would break auto-pipelines
 * already pending.
 *
 * Every script declares exactly one key: the entry, the lock, a scope's clock or the first key
 * to delete or read. It routes the call (on a Cluster its slot is every other key's slot, thanks
 * to the `{scope}` hash tag) and ioredis applies `keyPrefix` to it. The other keys of the scope
 * (epoch, tag versions, further keys to delete or read) go as arguments, with the prefix
 * (`RedisKeyNames`). A fixed key count matters: with a variable one, the first argument ioredis
 * sees is the count, and Cluster auto-pipelining would batch calls of different slots together.
 */
export class RedisScripts {
  private readonly channel: string;

  constructor(
    private readonly client: Redis | Cluster,
    /** The client's `keyPrefix`, added to the keys passed as arguments. */
    private readonly keyPrefix: string,
    /** The deadline window every call carries, read when the call is issued. */
    private readonly deadlines: WriteDeadlines,
    private readonly bus: RedisBus | undefined,
  ) {
    this.channel = bus?.channel ?? '';
    for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua, numberOfKeys: 1 });
    // Sent at once, never in the next auto-pipeline: ioredis starts a command's timeout when it
    // writes it out, and the deadline is read when the call is made. Through the auto-pipeline the
    // wait for its flush (setImmediate: under a burst of requests one event-loop turn can take
    // hundreds of ms) would count against the deadline but not the timeout, refusing writes the
    // client still waits for. Reads are batched already (RedisGetBatcher). A new array: ioredis's
    // default one is shared by all its clients.
    const options = client.options as { autoPipeliningIgnoredCommands?: string[] };
    options.autoPipeliningIgnoredCommands = [...(options.autoPipeliningIgnoredCommands ?? []), ...Object.keys(SCRIPTS)];
  }

  /**
   * Reads entries of one hash slot, checked against their scope's epoch and tag versions (see
   * READ_LUA): each one's bytes, or null. `epochNames[i]` is `keys[i]`'s scope's epoch (stored
   * name), '' when the same as the key before it.
   */
  async read(keys: readonly StorageKey[], epochNames: readonly string[]): Promise<(Buffer | null)[]> {
    const args: string[] = [epochNames[0]!];
    for (let i = 1; i < keys.length; i++) args.push(this.prefixedName(keys[i]!.full), epochNames[i]!);
    return (await (this.client as unknown as Record<string, ScriptFn>).ntcReadBuffer!.call(this.client, keys[0]!.full, ...args)) as (Buffer | null)[];
  }

  /**
   * Writes `bytes` (their header lists the tag-version keys). With `basisAt` (the Redis time in ms
   * the basis in the header was taken at), refused if an invalidation came after that basis or it
   * is older than the computation bound. Resolves whether it wrote.
   */
  async set(key: StorageKey, bytes: Buffer, ttlMs: number, meta: ScopeMetaNames, basisAt: number | undefined): Promise<boolean> {
    return Number(await this.call('ntcSet', key.full, [bytes, ttlMs, '', meta.clockName, meta.epochName, basisAt ?? '', ...this.message({ op: 'key', key })], false)) === 1;
  }

  /** Resolves the present entry's bytes, or null when it wrote. */
  async getOrSet(key: StorageKey, bytes: Buffer, ttlMs: number, meta: ScopeMetaNames): Promise<Buffer | null> {
    return ((await this.call('ntcGetOrSet', key.full, [bytes, ttlMs, '', meta.clockName, meta.epochName, '', ...this.message({ op: 'key', key })], true)) as Buffer | null | undefined) ?? null;
  }

  /** `expected` '' = no present entry. Resolves whether it wrote. */
  async compareAndSet(key: StorageKey, bytes: Buffer, ttlMs: number, expected: string, meta: ScopeMetaNames): Promise<boolean> {
    return Number(await this.call('ntcCompareAndSet', key.full, [bytes, ttlMs, expected, meta.clockName, meta.epochName, '', ...this.message({ op: 'key', key })], false)) === 1;
  }

  /** Deletes `key` only if it still holds exactly `bytes`. */
  async compareAndDelete(key: string, bytes: Buffer): Promise<boolean> {
    return Number(await this.call('ntcCompareAndDelete', key, [bytes], false)) === 1;
  }

  /** Deletes an entry (and says so on the bus); resolves whether it held one a read would have returned. */
  async deleteEntry(key: StorageKey, meta: ScopeMetaNames): Promise<boolean> {
    return (await this.deleteEntries([key], meta)) === 1;
  }

  /** Deletes entries of one scope (`keys`: non-empty; each said on the bus); resolves how many held one a read would have returned. */
  async deleteEntries(keys: readonly StorageKey[], meta: ScopeMetaNames): Promise<number> {
    const [first, ...rest] = keys;
    const args: ScriptArg[] = [meta.epochName, ...this.message({ op: 'key', key: first! })];
    for (const key of rest) args.push(this.prefixedName(key.full), this.message({ op: 'key', key })[1]);
    return Number(await this.call('ntcDeleteEntries', first!.full, args, false));
  }

  /** Deletes an entry (and says so on the bus); resolves its bytes if a read would have returned them, else null. */
  async pull(key: StorageKey, meta: ScopeMetaNames): Promise<Buffer | null> {
    return ((await this.call('ntcPull', key.full, [meta.epochName, ...this.message({ op: 'key', key })], true)) as Buffer | null | undefined) ?? null;
  }

  /** `keys`: non-empty, all of one scope (one slot), unprefixed. UNLINKs them; resolves how many existed. */
  async delete(keys: readonly (string | Buffer)[]): Promise<number> {
    const [first, ...rest] = keys;
    if (first === undefined) return 0;
    return Number(await this.call('ntcDelete', first, this.prefixed(rest), false));
  }

  /** `SET key token NX PX ttlMs`; resolves whether `token` now holds the lock. */
  async acquireLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.call('ntcAcquireLock', key, [token, ttlMs], false)) === 1;
  }

  /** The basis of a computation of the scope starting now, and the Redis time (ms) it was taken at. */
  async basis(meta: ScopeMetaNames): Promise<{ clock: number; at: number }> {
    const [clock, at] = (await (this.client as unknown as Record<string, ScriptFn>).ntcBasis!.call(this.client, meta.clock.full, meta.epochName)) as [number, number];
    return { clock: Number(clock), at: Number(at) };
  }

  /** Invalidates tags of one scope (`names`: their stored names, non-empty); resolves the version issued. */
  async invalidateTags(meta: ScopeMetaNames, names: readonly string[], change: BusChange): Promise<number> {
    return Number(await this.call('ntcInvalidateTags', meta.clock.full, [meta.epochName, ...this.message(change), ...names], false));
  }

  /** Clears a scope (a new epoch); resolves the epoch. */
  async clearScope(meta: ScopeMetaNames, change: BusChange): Promise<number> {
    return Number(await this.call('ntcClearScope', meta.clock.full, [meta.epochName, ...this.message(change)], false));
  }

  /** After a purge that set `epoch`: lets clock and epoch expire after the computation bound, unless cleared since. */
  async tombstone(meta: ScopeMetaNames, epoch: number): Promise<boolean> {
    return Number(await this.call('ntcTombstone', meta.clock.full, [meta.epochName, epoch], false)) === 1;
  }

  /** The bus arguments of a script: channel and message, or two empty strings without a bus. */
  private message(change: BusChange): [string, string] {
    return this.bus === undefined ? ['', ''] : [this.channel, encodeBusMessage(this.bus.origin, change)];
  }

  private prefixedName(full: string): string {
    return this.keyPrefix === '' ? full : this.keyPrefix + full;
  }

  private prefixed<K extends string | Buffer>(keys: readonly K[]): Array<string | Buffer> {
    if (this.keyPrefix === '') return [...keys];
    const prefix = this.keyPrefix;
    return keys.map((k) => (typeof k === 'string' ? prefix + k : Buffer.concat([Buffer.from(prefix, 'utf8'), k])));
  }

  private call(name: keyof typeof SCRIPTS, key: string | Buffer, args: readonly ScriptArg[], buffer: boolean): Promise<unknown> {
    const fn = (this.client as unknown as Record<string, ScriptFn>)[buffer ? `${name}Buffer` : name]!;
    // The window is read here, just before ioredis writes the command and starts its timeout
    // (synchronously: no auto-pipeline, see the constructor), so the deadline is never later
    // than the moment the client gives up, minus the margin.
    const [deadline, notBefore] = this.deadlines.window();
    return fn.call(this.client, key, deadline, notBefore, ...args);
  }
}
