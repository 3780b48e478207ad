import type { Cluster, Redis } from 'ioredis';
import { WIRE_VERSION } from '../envelope/envelope.js';
import { HEADER_LENGTH, LUA_STAMP_FROM, LUA_STAMP_TO } from '../envelope/wire.js';

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
 * extended (`PEXPIRE … GT`, Redis 7), and a persistent entry makes its index persistent.
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

-- KEYS[1] the entry, KEYS[2..] its tag indexes; bytes and ttl (ms, 0 = no expiry).
local function write_entry(bytes, ttl)
  for i = 2, #KEYS do
    local t = redis.call('TYPE', KEYS[i])
    if t.ok ~= 'set' and t.ok ~= 'none' then redis.call('UNLINK', KEYS[i]) end
  end
  if ttl > 0 then
    redis.call('SET', KEYS[1], bytes, 'PX', ttl)
  else
    redis.call('SET', KEYS[1], bytes)
  end
  for i = 2, #KEYS do
    local existed = redis.call('EXISTS', KEYS[i])
    redis.call('SADD', KEYS[i], KEYS[1])
    if ttl == 0 then
      redis.call('PERSIST', KEYS[i])
    elseif existed == 1 then
      redis.call('PEXPIRE', KEYS[i], ttl, 'GT')
    else
      redis.call('PEXPIRE', KEYS[i], ttl)
    end
  end
end
`;

/** KEYS[1] entry, KEYS[2..] tag indexes; ARGV[1] bytes, ARGV[2] ttl ms. Returns 1. */
export const SET_TAGGED_LUA = `${PRELUDE}
write_entry(ARGV[1], tonumber(ARGV[2]))
return 1
`;

/**
 * KEYS[1] entry, KEYS[2..] tag indexes; ARGV[1] bytes, ARGV[2] ttl ms.
 * Returns the bytes of the present entry, or nil after writing ARGV[1].
 */
export const GET_OR_SET_LUA = `${PRELUDE}
local cur = get_entry(KEYS[1])
if present(cur, now_ms()) then return cur end
write_entry(ARGV[1], tonumber(ARGV[2]))
return nil
`;

/**
 * KEYS[1] entry, KEYS[2..] tag indexes; ARGV[1] bytes, ARGV[2] ttl ms, ARGV[3] the expected stamp
 * ('' = expect no present entry). Returns 1 if it wrote, 0 if not.
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
 * KEYS = tag indexes of one scope. Unlinks every member entry and the indexes themselves.
 * Returns how many entries were deleted (members that had already expired are not counted).
 */
export const INVALIDATE_TAGS_LUA = `
local n = 0
for i = 1, #KEYS do
  if redis.call('TYPE', KEYS[i]).ok == 'set' then
    local members = redis.call('SMEMBERS', KEYS[i])
    for j = 1, #members, 500 do
      n = n + redis.call('UNLINK', unpack(members, j, math.min(j + 499, #members)))
    end
  end
  redis.call('UNLINK', KEYS[i])
end
return n
`;

type ScriptArg = string | Buffer | number;
type ScriptFn = (...args: ScriptArg[]) => Promise<unknown>;

/**
 * Calls the scripts on one client. Each script is defined (`defineCommand`, names prefixed
 * `ntc` so they cannot clash with a user's) once per number of keys, with that fixed
 * `numberOfKeys`: then the first argument ioredis sees is the entry key, so Cluster
 * auto-pipelining groups the call by the right slot (with a variable key count the first
 * argument is the count, and ioredis would batch calls of different slots together), and
 * ioredis `keyPrefix` is applied to every key.
 */
export class RedisScripts {
  private readonly defined = new Set<string>();

  constructor(private readonly client: Redis | Cluster) {}

  /** KEYS: entry then tag indexes. Writes unconditionally. */
  async setTagged(keys: readonly string[], bytes: Buffer, ttlMs: number): Promise<void> {
    await this.call('ntcSetTagged', SET_TAGGED_LUA, keys, [bytes, ttlMs], false);
  }

  /** KEYS: entry then tag indexes. Resolves the present entry's bytes, or null when it wrote. */
  async getOrSet(keys: readonly string[], bytes: Buffer, ttlMs: number): Promise<Buffer | null> {
    return ((await this.call('ntcGetOrSet', GET_OR_SET_LUA, keys, [bytes, ttlMs], true)) as Buffer | null | undefined) ?? null;
  }

  /** KEYS: entry then tag indexes; `expected` '' = no present entry. Resolves whether it wrote. */
  async compareAndSet(keys: readonly string[], bytes: Buffer, ttlMs: number, expected: string): Promise<boolean> {
    return Number(await this.call('ntcCompareAndSet', COMPARE_AND_SET_LUA, keys, [bytes, ttlMs, expected], false)) === 1;
  }

  /** Deletes `key` only if it still holds exactly `bytes`. */
  async compareAndDelete(key: string, bytes: Buffer): Promise<boolean> {
    return Number(await this.call('ntcCompareAndDelete', COMPARE_AND_DELETE_LUA, [key], [bytes], false)) === 1;
  }

  /** KEYS: tag indexes of one scope. Resolves how many entries were deleted. */
  async invalidateTags(tagKeys: readonly string[]): Promise<number> {
    return Number(await this.call('ntcInvalidateTags', INVALIDATE_TAGS_LUA, tagKeys, [], false));
  }

  private call(base: string, lua: string, keys: readonly string[], args: readonly ScriptArg[], buffer: boolean): Promise<unknown> {
    const name = `${base}${keys.length}`;
    if (!this.defined.has(name)) {
      this.client.defineCommand(name, { lua, numberOfKeys: keys.length });
      this.defined.add(name);
    }
    const fn = (this.client as unknown as Record<string, ScriptFn>)[buffer ? `${name}Buffer` : name]!;
    return fn.call(this.client, ...keys, ...args);
  }
}
