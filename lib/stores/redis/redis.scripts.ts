import type { Cluster, Redis } from 'ioredis';
import { WIRE_VERSION } from '../../envelope/envelope.js';
import { HEADER_LENGTH, LUA_STAMP_FROM, LUA_STAMP_TO } from '../../envelope/wire.js';

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
 */

const MAGIC = `NTC${WIRE_VERSION}`;
const EXPIRES_FROM = LUA_STAMP_TO + 1;
const EXPIRES_TO = LUA_STAMP_TO + 15;

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

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

-- KEYS[1] the entry; ARGV[4..] its tag indexes (same slot, already prefixed); ttl in ms, 0 = no expiry.
local function write_entry(bytes, ttl)
  for i = 4, #ARGV do
    local t = redis.call('TYPE', ARGV[i])
    if t.ok ~= 'set' and t.ok ~= 'none' then redis.call('UNLINK', ARGV[i]) end
  end
  if ttl > 0 then
    redis.call('SET', KEYS[1], bytes, 'PX', ttl)
  else
    redis.call('SET', KEYS[1], bytes)
  end
  for i = 4, #ARGV do
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

/** KEYS[1] entry; ARGV[1] bytes, ARGV[2] ttl ms, ARGV[3] unused, ARGV[4..] tag indexes. Returns 1. */
export const SET_TAGGED_LUA = `${PRELUDE}
write_entry(ARGV[1], tonumber(ARGV[2]))
return 1
`;

/**
 * KEYS[1] entry; ARGV[1] bytes, ARGV[2] ttl ms, ARGV[3] unused, ARGV[4..] tag indexes.
 * Returns the bytes of the present entry, or nil after writing ARGV[1].
 */
export const GET_OR_SET_LUA = `${PRELUDE}
local cur = get_entry(KEYS[1])
if present(cur, now_ms()) then return cur end
write_entry(ARGV[1], tonumber(ARGV[2]))
return nil
`;

/**
 * KEYS[1] entry; ARGV[1] bytes, ARGV[2] ttl ms, ARGV[3] the expected stamp ('' = expect no
 * present entry), ARGV[4..] tag indexes. Returns 1 if it wrote, 0 if not.
 */
export const COMPARE_AND_SET_LUA = `${PRELUDE}
local cur = get_entry(KEYS[1])
local is_present = present(cur, now_ms())
if ARGV[3] == '' then
  if is_present then return 0 end
elseif (not is_present) or string.sub(cur, ${LUA_STAMP_FROM}, ${LUA_STAMP_TO}) ~= ARGV[3] then
  return 0
end
write_entry(ARGV[1], tonumber(ARGV[2]))
return 1
`;

/** KEYS[1]; ARGV[1] bytes. Deletes the key only if it still holds exactly those bytes. Returns 1 or 0. */
export const COMPARE_AND_DELETE_LUA = `
local cur = redis.pcall('GET', KEYS[1])
if type(cur) == 'string' and cur == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * KEYS[1] and ARGV[1..]: tag indexes of one scope. Unlinks every member entry and the indexes
 * themselves. Returns how many entries were deleted (members already expired are not counted).
 */
export const INVALIDATE_TAGS_LUA = `
local indexes = { KEYS[1] }
for i = 1, #ARGV do indexes[#indexes + 1] = ARGV[i] end
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
  ntcSetTagged: SET_TAGGED_LUA,
  ntcGetOrSet: GET_OR_SET_LUA,
  ntcCompareAndSet: COMPARE_AND_SET_LUA,
  ntcCompareAndDelete: COMPARE_AND_DELETE_LUA,
  ntcInvalidateTags: INVALIDATE_TAGS_LUA,
} as const;

/**
 * Calls the scripts on one client; defines them (`defineCommand`, names prefixed `ntc` so they
 * cannot clash with a user's) when created, before any pipeline exists: an ioredis pipeline
 * copies the commands defined when it is made, so defining one later would break auto-pipelines
 * already pending.
 *
 * Every script declares exactly one key: the entry (or the first tag index). It routes the call
 * (on a Cluster its slot is every other key's slot, thanks to the `{scope}` hash tag) and ioredis
 * applies `keyPrefix` to it. The other keys of the scope (tag indexes) go as arguments, prefixed
 * by the caller. A fixed key count matters: with a variable one, the first argument ioredis sees
 * is the count, and Cluster auto-pipelining would batch calls of different slots together.
 */
export class RedisScripts {
  constructor(
    private readonly client: Redis | Cluster,
    /** The client's `keyPrefix`, added to the keys passed as arguments. */
    private readonly keyPrefix: string,
  ) {
    for (const [name, lua] of Object.entries(SCRIPTS)) client.defineCommand(name, { lua, numberOfKeys: 1 });
  }

  /** Writes unconditionally and indexes the entry under `tagKeys`. */
  async setTagged(key: string, tagKeys: readonly string[], bytes: Buffer, ttlMs: number): Promise<void> {
    await this.call('ntcSetTagged', key, [bytes, ttlMs, '', ...this.prefixed(tagKeys)], false);
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

  /** `tagKeys`: non-empty, all of one scope. Resolves how many entries were deleted. */
  async invalidateTags(tagKeys: readonly string[]): Promise<number> {
    const [first, ...rest] = tagKeys;
    if (first === undefined) return 0;
    return Number(await this.call('ntcInvalidateTags', first, this.prefixed(rest), false));
  }

  private prefixed(keys: readonly string[]): string[] {
    return this.keyPrefix === '' ? [...keys] : keys.map((k) => this.keyPrefix + k);
  }

  private call(name: keyof typeof SCRIPTS, key: string, args: readonly ScriptArg[], buffer: boolean): Promise<unknown> {
    const fn = (this.client as unknown as Record<string, ScriptFn>)[buffer ? `${name}Buffer` : name]!;
    return fn.call(this.client, key, ...args);
  }
}
