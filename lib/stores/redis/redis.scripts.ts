import type { Cluster, Redis } from 'ioredis';
import { WIRE_VERSION } from '../../envelope/envelope.js';
import { HEADER_LENGTH, LUA_STAMP_FROM, LUA_STAMP_TO } from '../../envelope/wire.js';
import { WRITE_WINDOW_LUA, type WriteDeadlines } from './write-deadline.js';

/**
 * The Lua scripts of `RedisStore`, registered with ioredis `defineCommand` (EVALSHA, with EVAL
 * on first use per connection and on NOSCRIPT). Every key a script touches belongs to one scope,
 * and all keys of a scope share the `{scope}` hash tag, so each script runs in one Cluster slot.
 *
 * The scripts read the fixed-width wire header (see wire.ts) without decoding the payload:
 * `NTC<version><codec id><stamp:16><expiresAt:15 digits>|`. An entry is *present* when it exists,
 * carries this wire version's header and its logical expiry (0 = never) is after Redis `TIME`.
 * Bytes without a valid header are never present, so garbage is overwritten by a write.
 *
 * Entry writes with tags also add the entry key to each tag index (a set) and make the index live
 * at least as long as the entry: a new index gets the entry's TTL, an existing one is only ever
 * extended (`PEXPIRE … GT`, Redis 7), and a persistent entry makes its index persistent. Each
 * such write also drops up to two members, sampled at random, whose entries are gone.
 *
 * Every script writes (or may), so every one takes a deadline window as ARGV[1] and ARGV[2] and
 * does nothing but reply with an error when Redis runs it too late (see write-deadline.ts): a
 * write the caller was told timed out never lands afterwards. The script's own arguments follow.
 */

const MAGIC = `NTC${WIRE_VERSION}`;
const EXPIRES_FROM = LUA_STAMP_TO + 1;
const EXPIRES_TO = LUA_STAMP_TO + 15;

const PRELUDE = `${WRITE_WINDOW_LUA}
local function present(v, now)
  if type(v) ~= 'string' or string.len(v) < ${HEADER_LENGTH} then return false end
  if string.sub(v, 1, 4) ~= '${MAGIC}' or string.sub(v, ${HEADER_LENGTH}, ${HEADER_LENGTH}) ~= '|' then return false end
  local x = tonumber(string.sub(v, ${EXPIRES_FROM}, ${EXPIRES_TO}))
  if x == nil then return false end
  return x == 0 or x > now
end

-- GET that treats a key of another type as absent instead of failing the script.
local function get_entry(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' and v.err then return false end
  return v
end

-- KEYS[1] the entry; ARGV[6..] its tag indexes (same slot, already prefixed); ttl in ms, 0 = no expiry.
local function write_entry(bytes, ttl)
  for i = 6, #ARGV do
    local t = redis.call('TYPE', ARGV[i])
    if t.ok ~= 'set' and t.ok ~= 'none' then redis.call('UNLINK', ARGV[i]) end
  end
  if ttl > 0 then
    redis.call('SET', KEYS[1], bytes, 'PX', ttl)
  else
    redis.call('SET', KEYS[1], bytes)
  end
  for i = 6, #ARGV do
    local existed = redis.call('EXISTS', ARGV[i])
    redis.call('SADD', ARGV[i], KEYS[1])
    if ttl == 0 then
      redis.call('PERSIST', ARGV[i])
    elseif existed == 1 then
      redis.call('PEXPIRE', ARGV[i], ttl, 'GT')
    else
      redis.call('PEXPIRE', ARGV[i], ttl)
    end
    -- Members outlive their entries (Redis expires the entry, not its index membership), so an
    -- index written steadily would grow for ever. Each write checks two random members and
    -- drops those whose entry is gone: the index stays within about twice its live entries.
    local sample = redis.call('SRANDMEMBER', ARGV[i], 2)
    for _, member in ipairs(sample) do
      if member ~= KEYS[1] and redis.call('EXISTS', member) == 0 then redis.call('SREM', ARGV[i], member) end
    end
  end
end
`;

/** KEYS[1] entry; ARGV[3] bytes, ARGV[4] ttl ms (0 = no expiry). The untagged write: no index to keep. Returns 1. */
export const SET_LUA = `${WRITE_WINDOW_LUA}
local _, refused = check_window()
if refused then return refused end
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('SET', KEYS[1], ARGV[3], 'PX', ttl) else redis.call('SET', KEYS[1], ARGV[3]) end
return 1
`;

/** KEYS[1] entry; ARGV[3] bytes, ARGV[4] ttl ms, ARGV[5] unused, ARGV[6..] tag indexes. Returns 1. */
export const SET_TAGGED_LUA = `${PRELUDE}
local _, refused = check_window()
if refused then return refused end
write_entry(ARGV[3], tonumber(ARGV[4]))
return 1
`;

/**
 * KEYS[1] entry; ARGV[3] bytes, ARGV[4] ttl ms, ARGV[5] unused, ARGV[6..] tag indexes.
 * Returns the bytes of the present entry, or nil after writing ARGV[3].
 */
export const GET_OR_SET_LUA = `${PRELUDE}
local now, refused = check_window()
if refused then return refused end
local cur = get_entry(KEYS[1])
if present(cur, now) then return cur end
write_entry(ARGV[3], tonumber(ARGV[4]))
return nil
`;

/**
 * KEYS[1] entry; ARGV[3] bytes, ARGV[4] ttl ms, ARGV[5] the expected stamp ('' = expect no
 * present entry), ARGV[6..] tag indexes. Returns 1 if it wrote, 0 if not.
 */
export const COMPARE_AND_SET_LUA = `${PRELUDE}
local now, refused = check_window()
if refused then return refused end
local cur = get_entry(KEYS[1])
local is_present = present(cur, now)
if ARGV[5] == '' then
  if is_present then return 0 end
elseif (not is_present) or string.sub(cur, ${LUA_STAMP_FROM}, ${LUA_STAMP_TO}) ~= ARGV[5] then
  return 0
end
write_entry(ARGV[3], tonumber(ARGV[4]))
return 1
`;

/** KEYS[1]; ARGV[3] bytes. Deletes the key only if it still holds exactly those bytes. Returns 1 or 0. */
export const COMPARE_AND_DELETE_LUA = `${WRITE_WINDOW_LUA}
local _, refused = check_window()
if refused then return refused end
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'string' and cur == ARGV[3] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** KEYS[1] and ARGV[3..]: keys of one scope (already prefixed). UNLINKs them all; returns how many existed. */
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

/**
 * KEYS[1] and ARGV[3..]: tag indexes of one scope. Unlinks every member entry and the indexes
 * themselves. Returns how many entries were deleted (members already expired are not counted).
 */
export const INVALIDATE_TAGS_LUA = `${WRITE_WINDOW_LUA}
local _, refused = check_window()
if refused then return refused end
local indexes = { KEYS[1] }
for i = 3, #ARGV do indexes[#indexes + 1] = ARGV[i] end
local n = 0
for _, index in ipairs(indexes) do
  if redis.call('TYPE', index).ok == 'set' then
    local members = redis.call('SMEMBERS', index)
    for j = 1, #members, 500 do
      n = n + redis.call('UNLINK', unpack(members, j, math.min(j + 499, #members)))
    end
  end
  redis.call('UNLINK', index)
end
return n
`;

type ScriptArg = string | Buffer | number;
type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;

const SCRIPTS = {
  ntcSet: SET_LUA,
  ntcSetTagged: SET_TAGGED_LUA,
  ntcGetOrSet: GET_OR_SET_LUA,
  ntcCompareAndSet: COMPARE_AND_SET_LUA,
  ntcCompareAndDelete: COMPARE_AND_DELETE_LUA,
  ntcDelete: DELETE_LUA,
  ntcAcquireLock: ACQUIRE_LOCK_LUA,
  ntcInvalidateTags: INVALIDATE_TAGS_LUA,
} as const;

/**
 * Calls the scripts on one client; defines them (`defineCommand`, names prefixed `ntc` so they
 * cannot clash with a user's) when created, before any pipeline exists: an ioredis pipeline
 * copies the commands defined when it is made, so defining one later would break auto-pipelines
 * already pending.
 *
 * Every script declares exactly one key: the entry, the lock, the first tag index or the first
 * key to delete. It routes the call (on a Cluster its slot is every other key's slot, thanks to
 * the `{scope}` hash tag) and ioredis applies `keyPrefix` to it. The other keys of the scope (tag
 * indexes, further keys to delete) go as arguments, prefixed here. A fixed key count matters: with a variable one, the first argument ioredis sees
 * is the count, and Cluster auto-pipelining would batch calls of different slots together.
 */
export class RedisScripts {
  constructor(
    private readonly client: Redis | Cluster,
    /** The client's `keyPrefix`, added to the keys passed as arguments. */
    private readonly keyPrefix: string,
    /** The deadline window every call carries, read when the call is issued. */
    private readonly deadlines: WriteDeadlines,
  ) {
    for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua, numberOfKeys: 1 });
    // Sent at once, never in the next auto-pipeline: ioredis starts a command's timeout when it
    // writes it out, and the deadline is read when the call is made. Through the auto-pipeline the
    // wait for its flush (setImmediate: under a burst of requests one event-loop turn can take
    // hundreds of ms) would count against the deadline but not the timeout, refusing writes the
    // client still waits for. A new array: ioredis's default one is shared by all its clients.
    const options = client.options as { autoPipeliningIgnoredCommands?: string[] };
    options.autoPipeliningIgnoredCommands = [...(options.autoPipeliningIgnoredCommands ?? []), ...Object.keys(SCRIPTS)];
  }

  /** Writes unconditionally; indexes the entry under `tagKeys` if there are any. */
  async set(key: string, tagKeys: readonly string[], bytes: Buffer, ttlMs: number): Promise<void> {
    if (tagKeys.length === 0) await this.call('ntcSet', key, [bytes, ttlMs], false);
    else await this.call('ntcSetTagged', key, [bytes, ttlMs, '', ...this.prefixed(tagKeys)], false);
  }

  /** Resolves the present entry's bytes, or null when it wrote. */
  async getOrSet(key: string, tagKeys: readonly string[], bytes: Buffer, ttlMs: number): Promise<Buffer | null> {
    return ((await this.call('ntcGetOrSet', key, [bytes, ttlMs, '', ...this.prefixed(tagKeys)], true)) as Buffer | null | undefined) ?? null;
  }

  /** `expected` '' = no present entry. Resolves whether it wrote. */
  async compareAndSet(key: string, tagKeys: readonly string[], bytes: Buffer, ttlMs: number, expected: string): Promise<boolean> {
    return Number(await this.call('ntcCompareAndSet', key, [bytes, ttlMs, expected, ...this.prefixed(tagKeys)], false)) === 1;
  }

  /** Deletes `key` only if it still holds exactly `bytes`. */
  async compareAndDelete(key: string, bytes: Buffer): Promise<boolean> {
    return Number(await this.call('ntcCompareAndDelete', key, [bytes], false)) === 1;
  }

  /** `keys`: non-empty, all of one scope (one slot). UNLINKs them; resolves how many existed. */
  async delete(keys: readonly (string | Buffer)[]): Promise<number> {
    const [first, ...rest] = keys;
    if (first === undefined) return 0;
    return Number(await this.call('ntcDelete', first, this.prefixed(rest), false));
  }

  /** `SET key token NX PX ttlMs`; resolves whether `token` now holds the lock. */
  async acquireLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return Number(await this.call('ntcAcquireLock', key, [token, ttlMs], false)) === 1;
  }

  /** `tagKeys`: non-empty, all of one scope. Resolves how many entries were deleted. */
  async invalidateTags(tagKeys: readonly string[]): Promise<number> {
    const [first, ...rest] = tagKeys;
    if (first === undefined) return 0;
    return Number(await this.call('ntcInvalidateTags', first, this.prefixed(rest), false));
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
