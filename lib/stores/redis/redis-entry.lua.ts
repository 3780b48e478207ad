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
 *   invalidation. A missing one (evicted, purged) or one of another type is unknown: an entry
 *   under it is not read and a computation's write is refused (ensure_known below).
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
 * - The epoch and a tag-version key outlive every entry under them: a write creates one that is
 *   unknown at the clock V (at least every version issued; a fresh one if the clock is unknown
 *   too), so the entries it was lost under stay unreadable and the new one gets a basis >= V, with the entry's TTL, or extends it (PEXPIRE GT; a persistent entry makes
 *   it persistent). A read that finds one unknown does not trust the entry: a miss.
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
    v = known_number(name) or -1
    versions[name] = v
  end
  return v
end

-- Whether an entry based on basis, with these tag-version keys, may be read: no clear and no
-- invalidation of its tags after its basis, and its epoch and every tag-version key known (epoch
-- -1: unknown).
local function valid(basis, names, epoch)
  if epoch < 0 or epoch > basis then return false end
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
  return names ~= nil and valid(basis, names, known_number(epoch_key) or -1)
end

-- Makes the scope's epoch (ARGV[7]) and each tag-version key known and alive at least as long
-- as an entry of ttl ms (0 = no expiry): extended, never shortened; a persistent entry makes
-- them persistent, and the clock (ARGV[6]) with them. One unknown (missing: evicted, purged; of
-- another type: an old tag index; no number) is set to the clock, which is at least every version
-- ever issued (the lost one too), or to a fresh version if the clock is unknown as well: the
-- entries it was lost under, based before, stay unreadable.
local function ensure_known(ttl, names)
  local fresh = nil
  local keys = { ARGV[7] }
  for _, name in ipairs(names) do keys[#keys + 1] = name end
  for _, name in ipairs(keys) do
    if known_number(name) == nil then
      if fresh == nil then
        if known_number(ARGV[6]) == nil then fresh = tick(ARGV[6], ARGV[7]) else fresh = clock_now(ARGV[6], ARGV[7]) end
        fresh = string.format('%.0f', fresh)
      end
      if redis.call('TYPE', name).ok ~= 'none' then redis.call('UNLINK', name) end
      if ttl > 0 then redis.call('SET', name, fresh, 'PX', ttl) else redis.call('SET', name, fresh) end
    else
      keep_alive(name, ttl)
    end
  end
  keep_alive(ARGV[6], ttl)
end

-- Writes KEYS[1] = v (ttl ms, 0 = no expiry), then ensure_known. With own_basis and a header,
-- the header's basis field is set to the write's own clock, read after ensure_known (so at
-- least a version it set; bytes came with 0).
local function write_entry(v, ttl, names, has_header, own_basis)
  -- The entry's SET first: over maxmemory (noeviction) Redis refuses a script's first denyoom
  -- command, before anything is written; once a script has written (ensure_known's PEXPIREs are
  -- not denyoom) it lets every later command through, so a full Redis would take the write.
  if ttl > 0 then redis.call('SET', KEYS[1], v, 'PX', ttl) else redis.call('SET', KEYS[1], v) end
  ensure_known(ttl, names)
  if has_header and own_basis then redis.call('SETRANGE', KEYS[1], ${BASIS_OFFSET}, string.format('%016.0f', clock_now(ARGV[6], ARGV[7]))) end
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
if ARGV[8] ~= '' then
  if now - tonumber(ARGV[8]) > ${MAX_COMPUTATION_MS} then return 0 end
  local unknown = false
  for i = 0, #names do
    local version = known_number(i == 0 and ARGV[7] or names[i])
    if version == nil then unknown = true elseif version > given then return 0 end
  end
  -- An unknown epoch or tag version may have been above the basis; it was not if the clock (at
  -- least every version issued) still is at most the basis. Else refused, when in doubt.
  if unknown then
    local clock = known_number(ARGV[6])
    if clock == nil or clock > given then
      ensure_known(ttl, names)
      return 0
    end
  end
  -- ensure_known sets an unknown one to the clock, at most the basis: the header keeps it.
  write_entry(v, ttl, names, false, false)
else
  write_entry(v, ttl, names, bar ~= nil, true)
end
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
write_entry(v, ttl, names, bar ~= nil, true)
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
write_entry(v, ttl, names, bar ~= nil, true)
publish(ARGV[9], ARGV[10])
return 1
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
    epoch = known_number(epoch_key) or -1
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

/**
 * delete and deleteMany: KEYS[1] the first entry; ARGV[3] their scope's epoch key (all keys are
 * of one scope), ARGV[4] the bus channel ('' = none), ARGV[5] the bus message of KEYS[1], then
 * pairs ARGV[6+2j] a further entry (prefixed) and ARGV[7+2j] its bus message. UNLINKs every one;
 * returns how many held an entry a read would have returned (of this wire version, not
 * invalidated): for one key, 1 or 0.
 */
export const DELETE_ENTRIES_LUA = `${ENTRY_LUA}
local _, refused = check_window()
if refused then return refused end
local epoch = known_number(ARGV[3]) or -1
local n = 0
local function delete_one(key, message)
  local v = get_entry(key)
  local basis, bar = header(v)
  local names = basis and tag_names(v, bar)
  if names ~= nil and names ~= false and valid(basis, names, epoch) then n = n + 1 end
  redis.call('UNLINK', key)
  publish(ARGV[4], message)
end
delete_one(KEYS[1], ARGV[5])
for i = 6, #ARGV, 2 do delete_one(ARGV[i], ARGV[i + 1]) end
return n
`;

/**
 * pull: KEYS[1] the entry; ARGV[3] its scope's epoch key, ARGV[4] the bus channel ('' = none),
 * ARGV[5] the bus message. UNLINKs the key and returns what a read would have (READ_LUA): its
 * bytes if it may be read, nil if not; bytes that are no entry as they are (the store drops them).
 * Atomic: of concurrent pulls exactly one gets the bytes.
 */
export const PULL_LUA = `${ENTRY_LUA}
local _, refused = check_window()
if refused then return refused end
local v = get_entry(KEYS[1])
if not v then return nil end
local out = v
local basis, bar = header(v)
local names = basis and tag_names(v, bar)
if names and not valid(basis, names, known_number(ARGV[3]) or -1) then out = false end
redis.call('UNLINK', KEYS[1])
publish(ARGV[4], ARGV[5])
return out
`;
