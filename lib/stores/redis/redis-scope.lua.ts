import { MAX_COMPUTATION_MS } from '../computation-bound.js';
import { WRITE_WINDOW_LUA } from './write-deadline.js';

/**
 * The Lua of the scope scripts: a computation's basis, tag invalidation, clear, and the
 * tombstone a purge leaves. Each is one call on the scope's hash slot, whatever the number of
 * entries: an invalidation stores one number per tag (and the clock), a clear one number.
 * The model and the rule an entry is read by are described in redis-entry.lua.ts.
 */

/**
 * The clock helpers every script that reads or issues versions shares (after `WRITE_WINDOW_LUA`:
 * `tick` reads `NOW_US`, set by `now_ms()` / `check_window()`).
 */
export const SCOPE_CLOCK_LUA = `${WRITE_WINDOW_LUA}
-- The number stored at name (a clock, an epoch, a tag version); nil when absent; 0 for a key of
-- another type (a tag index set of an older version) or text that is no number.
local function stored_number(name)
  local v = redis.pcall('GET', name)
  if v == false then return nil end
  if type(v) ~= 'string' then return 0 end
  return tonumber(v) or 0
end

-- The number stored at name when it is one (an epoch, a tag version); nil when it is unknown:
-- missing (evicted, purged), of another type (an old tag index) or text that is no number. An
-- entry whose epoch or tag version is unknown is not read; a computation's write is refused.
local function known_number(name)
  local v = redis.pcall('GET', name)
  if type(v) ~= 'string' then return nil end
  return tonumber(v)
end

-- Keeps name alive at least ttl ms (0: persistent): extended, never shortened.
local function keep_alive(name, ttl)
  if ttl == 0 then redis.call('PERSIST', name) else redis.call('PEXPIRE', name, ttl, 'GT') end
end

-- The scope's clock now: a basis. At least every version issued, below every later one.
local function clock_now(clock_key, epoch_key)
  return math.max(stored_number(clock_key) or 0, stored_number(epoch_key) or 0)
end

-- Issues the scope's next version and stores it as its clock. Above the clock, and above Redis's
-- time in µs: so a scope whose clock key was lost (expired after a purge, evicted) still issues
-- versions above every basis handed out before. The clock lives at least the computation bound
-- after a tick and at least as long as every entry of the scope (write_entry extends it), so it
-- outlives the epoch and tag keys (which live as long as that at most) and goes with them.
local function tick(clock_key, epoch_key)
  local v = math.max(clock_now(clock_key, epoch_key), NOW_US) + 1
  if redis.call('EXISTS', clock_key) == 1 then
    redis.call('SET', clock_key, string.format('%.0f', v), 'KEEPTTL')
    redis.call('PEXPIRE', clock_key, ${MAX_COMPUTATION_MS}, 'GT')
  else
    redis.call('SET', clock_key, string.format('%.0f', v), 'PX', ${MAX_COMPUTATION_MS})
  end
  return v
end

-- Sets name (an epoch or a tag version) to the version text, replacing a key of another type:
-- its TTL kept and at least the computation bound, or the computation bound when it is new.
local function set_version(name, text)
  local t = redis.call('TYPE', name).ok
  if t == 'string' then
    redis.call('SET', name, text, 'KEEPTTL')
    redis.call('PEXPIRE', name, ${MAX_COMPUTATION_MS}, 'GT')
  else
    if t ~= 'none' then redis.call('UNLINK', name) end
    redis.call('SET', name, text, 'PX', ${MAX_COMPUTATION_MS})
  end
end

local function publish(channel, message)
  if channel ~= '' then redis.call('PUBLISH', channel, message) end
end
`;

/**
 * First line of the invalidation scripts: they run on a full Redis (maxmemory reached,
 * `noeviction`), as UNLINK-based invalidation did, so an invalidation is applied when writes are
 * refused: it only ever makes entries unreadable, and the few bytes of a version are what keeps
 * the others from serving them.
 */
const ALLOW_OOM = '#!lua flags=allow-oom\n';

/**
 * KEYS[1] the scope's clock, ARGV[1] its epoch key. No deadline: its only write, an epoch for a
 * scope that has none (a new tenant, or a lost epoch: its entries are unreadable already), hides
 * nothing readable however late it comes, so the computation's write finds an epoch and is not
 * refused for the lack of one. Returns the basis of a computation starting now and Redis's time
 * (ms), which bounds how old a basis may be when its write comes (`MAX_COMPUTATION_MS`).
 */
export const BASIS_LUA = `${SCOPE_CLOCK_LUA}
local now = now_ms()
if known_number(ARGV[1]) == nil then set_version(ARGV[1], string.format('%.0f', tick(KEYS[1], ARGV[1]))) end
return { clock_now(KEYS[1], ARGV[1]), now }
`;

/**
 * KEYS[1] the scope's clock; ARGV[3] its epoch key, ARGV[4] the bus channel ('' = none), ARGV[5]
 * the bus message, ARGV[6..] tag-version keys of the scope. Sets each tag's version to the next
 * version V. A tag key lives on at least the computation bound (so the computations it refuses
 * find it), longer if entries carrying it do (its TTL is never shortened; a persistent one stays
 * persistent); a key of another type (an old tag index) is replaced. Returns V.
 */
export const INVALIDATE_TAGS_LUA = `${ALLOW_OOM}${SCOPE_CLOCK_LUA}
local _, refused = check_window()
if refused then return refused end
local v = tick(KEYS[1], ARGV[3])
local text = string.format('%.0f', v)
for i = 6, #ARGV do set_version(ARGV[i], text) end
publish(ARGV[4], ARGV[5])
return v
`;

/**
 * KEYS[1] the scope's clock; ARGV[3] its epoch key, ARGV[4] the bus channel, ARGV[5] the message.
 * Sets the epoch to the next version V, with the lifetime rule of a tag key: its TTL (at least
 * that of every entry of the scope, write_entry extends it) kept and at least the computation
 * bound. Returns V.
 */
export const CLEAR_SCOPE_LUA = `${ALLOW_OOM}${SCOPE_CLOCK_LUA}
local _, refused = check_window()
if refused then return refused end
local v = tick(KEYS[1], ARGV[3])
set_version(ARGV[3], string.format('%.0f', v))
publish(ARGV[4], ARGV[5])
return v
`;

/**
 * The end of a purge: KEYS[1] the scope's clock; ARGV[3] its epoch key, ARGV[4] the epoch the
 * purge set. While the epoch is still that one (no clear since), clock and epoch expire after the
 * computation bound: until then they refuse the computations that started before the purge,
 * after it those are past the bound anyway. Returns 1 if it set the TTLs.
 */
export const TOMBSTONE_LUA = `${SCOPE_CLOCK_LUA}
local _, refused = check_window()
if refused then return refused end
if stored_number(ARGV[3]) ~= tonumber(ARGV[4]) then return 0 end
redis.call('PEXPIRE', ARGV[3], ${MAX_COMPUTATION_MS})
redis.call('PEXPIRE', KEYS[1], ${MAX_COMPUTATION_MS})
return 1
`;
