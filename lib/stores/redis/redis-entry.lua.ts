import { WIRE_VERSION } from '../../envelope/envelope.js';
import { BASIS_OFFSET, FIXED_HEADER_LENGTH, HEADER_LENGTH, LUA_BASIS_FROM, LUA_EXPIRES_FROM, LUA_STAMP_FROM, LUA_STAMP_TO, LUA_TAGS_LENGTH_FROM, TAG_NAME_LENGTH_DIGITS } from '../../envelope/wire.js';
import { MAX_COMPUTATION_MS } from '../computation-bound.js';
import { SCOPE_CLOCK_LUA } from './redis-scope.lua.js';

/**
 * The Lua of the entry scripts: the read (a batch of gets), the writes (set, getOrSet,
 * compareAndSet) and the delete, with what they share, the check that an entry may be read.
 *
 * The invalidation model (one per scope, every key of a scope in its `{scope}` hash slot):
 * - the scope's clock (`meta:clock`) is the last version it issued; its epoch (`meta:epoch`) the
 *   version of its last clear; a tag's version (`tag:<tag>`) the version of the tag's last
 *   invalidation. Absent = 0.
 * - An invalidation issues V = max(clock, epoch, Redis time in µs) + 1 and stores it as the clock
 *   (redis-scope.lua.ts); a basis is B = max(clock, epoch). So a basis read before an invalidation
 *   is below its version (B < V) and one read after is at least it (B >= V): an entry based on B
 *   is readable while its epoch and every tag version are <= B, the rule everywhere below. Bases
 *   come from stored values only (a step back of Redis's clock cannot lower one); Redis's time
 *   floors the versions so they keep growing if the clock key is lost (evicted, or expired after
 *   a purge), where a plain counter would start again at 1, under entries based on later values.
 * - Every entry's header carries its basis and the names of its tag-version keys (wire.ts), so
 *   the check runs with the read that finds the entry, no payload decoded: here, in the scripts,
 *   or on one MGET snapshot of entry, epoch and tag versions (redis-entry.reader.ts).
 * - A tag-version key outlives every entry carrying its tag: a tagged write creates it (0) with
 *   the entry's TTL or extends it (PEXPIRE GT; a persistent entry makes it persistent). A read
 *   that finds one missing (evicted, deleted) does not trust the entry: a miss.
 *
 * Bytes without a valid header (garbage, another wire version) are returned by the read as they
 * are, so the store decodes them, counts and deletes them; a write treats them as no entry.
 */

const MAGIC = `NTC${WIRE_VERSION}`;
const EXPIRES_TO = LUA_EXPIRES_FROM + 14;
const BASIS_TO = LUA_BASIS_FROM + 15;
const TAGS_LENGTH_TO = LUA_TAGS_LENGTH_FROM + 6;

const ENTRY_LUA = `${SCOPE_CLOCK_LUA}
-- GET that treats a key of another type as absent instead of failing the script.
local function get_entry(key)
  local v = redis.pcall('GET', key)
  if type(v) == 'table' and v.err then return false end
  return v
end

-- An entry's basis and the position of its '|' (after the tag section); nil when v is no entry.
local function header(v)
  if type(v) ~= 'string' or string.len(v) < ${HEADER_LENGTH} or string.sub(v, 1, 4) ~= '${MAGIC}' then return nil end
  local basis = tonumber(string.sub(v, ${LUA_BASIS_FROM}, ${BASIS_TO}))
  local n = tonumber(string.sub(v, ${LUA_TAGS_LENGTH_FROM}, ${TAGS_LENGTH_TO}))
  if basis == nil or n == nil then return nil end
  local bar = ${FIXED_HEADER_LENGTH + 1} + n
  if string.byte(v, bar) ~= 124 then return nil end
  return basis, bar
end

-- The tag-version key names of the header's tag section (positions up to bar); nil when malformed.
local function tag_names(v, bar)
  local names = {}
  local p = ${FIXED_HEADER_LENGTH + 1}
  while p < bar do
    local len = tonumber(string.sub(v, p, p + ${TAG_NAME_LENGTH_DIGITS - 1}))
    if len == nil or len < 1 or p + ${TAG_NAME_LENGTH_DIGITS} + len > bar then return nil end
    names[#names + 1] = string.sub(v, p + ${TAG_NAME_LENGTH_DIGITS}, p + ${TAG_NAME_LENGTH_DIGITS - 1} + len)
    p = p + ${TAG_NAME_LENGTH_DIGITS} + len
  end
  return names
end

-- Versions read by this call, by key name (-1: the key is missing), so a batch reads each once.
local versions = {}
local function version_of(name)
  local v = versions[name]
  if v == nil then
    v = stored_number(name) or -1
    versions[name] = v
  end
  return v
end

-- Whether an entry based on basis, with these tag-version keys, may be read: no clear and no
-- invalidation of its tags after its basis, and every tag-version key still there.
local function valid(basis, names, epoch)
  if epoch > basis then return false end
  for _, name in ipairs(names) do
    local version = version_of(name)
    if version < 0 or version > basis then return false end
  end
  return true
end

-- Present for getOrSet/compareAndSet: an entry of this version, within its logical expiry
-- (0 = never), that may be read (epoch_key: its scope's epoch).
local function present(v, now, epoch_key)
  local basis, bar = header(v)
  if basis == nil then return false end
  local x = tonumber(string.sub(v, ${LUA_EXPIRES_FROM}, ${EXPIRES_TO}))
  if x == nil or (x ~= 0 and x <= now) then return false end
  local names = tag_names(v, bar)
  return names ~= nil and valid(basis, names, stored_number(epoch_key) or 0)
end

-- Writes KEYS[1] = v (ttl ms, 0 = no expiry) and keeps each tag-version key alive at least as
-- long: created at version 0 with the entry's TTL, or extended, never shortened; a persistent
-- entry makes it persistent. A key of another type (an old tag index) is replaced. With
-- basis, the header's basis field is set to it (the write's own clock; bytes came with 0).
local function write_entry(v, ttl, names, basis)
  for _, name in ipairs(names) do
    local t = redis.call('TYPE', name).ok
    if t ~= 'string' then
      if t ~= 'none' then redis.call('UNLINK', name) end
      if ttl > 0 then redis.call('SET', name, '0', 'PX', ttl) else redis.call('SET', name, '0') end
    elseif ttl == 0 then
      redis.call('PERSIST', name)
    else
      redis.call('PEXPIRE', name, ttl, 'GT')
    end
  end
  if ttl > 0 then redis.call('SET', KEYS[1], v, 'PX', ttl) else redis.call('SET', KEYS[1], v) end
  if basis ~= nil then redis.call('SETRANGE', KEYS[1], ${BASIS_OFFSET}, string.format('%016.0f', basis)) end
end

`;

/**
 * The entry writes' arguments: KEYS[1] the entry; ARGV[3] its bytes, ARGV[4] ttl ms (0 = no
 * expiry), ARGV[5] the expected stamp of compareAndSet ('' = expect no present entry), ARGV[6]
 * the scope's clock key, ARGV[7] its epoch key, ARGV[8] when the bytes carry the basis of a
 * computation, the Redis time (ms) that basis was taken at ('' = no basis: the write's own clock),
 * ARGV[9] the bus channel ('' = none), ARGV[10] the bus message of the write.
 */
const WRITE_ARGS = `
local v = ARGV[3]
local ttl = tonumber(ARGV[4])
local given, bar = header(v)
-- The store writes whole entries; bytes without a header (tests write such) have no tags.
local names = bar and tag_names(v, bar) or {}
given = given or 0
`;

/**
 * set. With a basis (ARGV[8]): not applied when it is older than the computation bound, the
 * scope was cleared after it or one of the entry's tags invalidated after it. Returns 1 if it
 * wrote, 0 if not.
 */
export const SET_LUA = `${ENTRY_LUA}
local now, refused = check_window()
if refused then return refused end
${WRITE_ARGS}
local basis = nil
if ARGV[8] ~= '' then
  if now - tonumber(ARGV[8]) > ${MAX_COMPUTATION_MS} or (stored_number(ARGV[7]) or 0) > given then return 0 end
  for _, name in ipairs(names) do
    if (stored_number(name) or 0) > given then return 0 end
  end
else
  basis = clock_now(ARGV[6], ARGV[7])
end
write_entry(v, ttl, names, bar and basis)
publish(ARGV[9], ARGV[10])
return 1
`;

/** getOrSet: returns the bytes of the present entry, or nil after writing ARGV[3]. */
export const GET_OR_SET_LUA = `${ENTRY_LUA}
local now, refused = check_window()
if refused then return refused end
local cur = get_entry(KEYS[1])
if present(cur, now, ARGV[7]) then return cur end
${WRITE_ARGS}
write_entry(v, ttl, names, bar and clock_now(ARGV[6], ARGV[7]))
publish(ARGV[9], ARGV[10])
return nil
`;

/** compareAndSet: writes ARGV[3] if the present entry's stamp is ARGV[5] ('' = if none is present). Returns 1 if it wrote, 0 if not. */
export const COMPARE_AND_SET_LUA = `${ENTRY_LUA}
local now, refused = check_window()
if refused then return refused end
local cur = get_entry(KEYS[1])
local is_present = present(cur, now, ARGV[7])
if ARGV[5] == '' then
  if is_present then return 0 end
elseif (not is_present) or string.sub(cur, ${LUA_STAMP_FROM}, ${LUA_STAMP_TO}) ~= ARGV[5] then
  return 0
end
${WRITE_ARGS}
write_entry(v, ttl, names, bar and clock_now(ARGV[6], ARGV[7]))
publish(ARGV[9], ARGV[10])
return 1
`;

/**
 * delete: KEYS[1] the entry; ARGV[3] its scope's epoch key, ARGV[4] the bus channel ('' = none),
 * ARGV[5] the bus message. UNLINKs the key; returns 1 if it held an entry a read would have
 * returned (of this wire version, not invalidated), else 0.
 */
export const DELETE_ENTRY_LUA = `${ENTRY_LUA}
local _, refused = check_window()
if refused then return refused end
local v = get_entry(KEYS[1])
local basis, bar = header(v)
local names = basis and tag_names(v, bar)
local readable = names ~= nil and names ~= false and valid(basis, names, stored_number(ARGV[3]) or 0)
redis.call('UNLINK', KEYS[1])
publish(ARGV[4], ARGV[5])
if readable then return 1 end
return 0
`;

/**
 * The read of a batch of gets of one hash slot (no write, so no deadline): KEYS[1] the first
 * entry and ARGV[1] its scope's epoch key; then ARGV[2k] a further entry and ARGV[2k+1] its
 * epoch key ('' = the previous one's). Returns each entry's bytes in order: nil for a miss or
 * an entry that may not be read; bytes that are no entry as they are (the store drops them).
 */
export const READ_LUA = `${ENTRY_LUA}
local epochs = {}
local function read(key, epoch_key)
  local v = get_entry(key)
  local basis, bar = header(v)
  if basis == nil then return v end
  local names = tag_names(v, bar)
  if names == nil then return v end
  local epoch = epochs[epoch_key]
  if epoch == nil then
    epoch = stored_number(epoch_key) or 0
    epochs[epoch_key] = epoch
  end
  if not valid(basis, names, epoch) then return false end
  return v
end
local out = { read(KEYS[1], ARGV[1]) }
local epoch_key = ARGV[1]
for i = 2, #ARGV, 2 do
  if ARGV[i + 1] ~= '' then epoch_key = ARGV[i + 1] end
  out[#out + 1] = read(ARGV[i], epoch_key)
end
return out
`;
