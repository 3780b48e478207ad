import { Cluster, type Redis } from 'ioredis';
import { CacheConfigError } from '../../errors/cache.errors.js';

/**
 * Deadlines that Redis itself checks on every write the store sends (entries, deletes, tag
 * invalidations, clear batches, locks).
 *
 * A command that timed out on the client may still be sitting in the socket or in Redis's input
 * buffer (a paused or overloaded server) and run later: the caller was told the write failed,
 * yet it lands. Redis cannot tell how old a command is (it sees when a command runs, not when it
 * was sent), so the client states an absolute deadline by the wall clock and the script compares
 * it with Redis `TIME` before it touches anything:
 *
 *   deadline  = Date.now() at issue + commandTimeout − margin
 *   notBefore = Date.now() at issue − margin
 *
 * With the two clocks within `margin` of each other, a write that runs at or after the moment
 * the client gives up (issue + commandTimeout by the client's clock: ioredis starts its timer
 * when it writes the command out, right after we read the clock, since write scripts skip the
 * auto-pipeline; see redis.scripts.ts) finds Redis `TIME` at or past its deadline and is refused. What is left of the margin covers the reply's way back and
 * a stall of the app's event loop when the timeout fires (a reply that arrived but was not read
 * yet loses to the timer).
 *
 * `notBefore` checks the clock requirement on every write: a command cannot run before it was
 * issued, so Redis `TIME` before `notBefore` means Redis's clock is behind ours by more than the
 * margin — the direction in which late writes would slip through. Such writes are refused too,
 * so a broken clock shows as failing writes, not as writes that land late. (A Redis clock ahead
 * of ours only shortens the window: late writes are still refused, slow ones a little sooner.)
 *
 * Lua in Redis 7 replicates effects, not scripts, so reading `TIME` before writing is allowed
 * and replicas get the writes as they were made.
 */

/** Error codes the scripts reply with when they refuse a write; the write did nothing. */
export const LATE_WRITE = 'NTC_LATE';
export const CLOCK_BEHIND = 'NTC_CLOCK';

/**
 * Lua defining `now_ms()` (Redis `TIME` in milliseconds; it also sets `NOW_US`, the same time in
 * microseconds, which the invalidation clocks use) and `check_window()`: every write script
 * starts with `local now, refused = check_window()` and returns `refused` when it is set.
 * ARGV[1] is the deadline and ARGV[2] notBefore (ms, epoch); 0 and 0 mean no deadline.
 */
export const WRITE_WINDOW_LUA = `
local NOW_US = 0
local function now_ms()
  local t = redis.call('TIME')
  NOW_US = tonumber(t[1]) * 1000000 + tonumber(t[2])
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function check_window()
  local now = now_ms()
  local deadline = tonumber(ARGV[1])
  if deadline == 0 then return now, nil end
  if now >= deadline then
    return now, redis.error_reply('${LATE_WRITE} write reached Redis after its deadline, not applied (it timed out, or the clocks of app and Redis differ by more than writeDeadlineMargin)')
  end
  if now < tonumber(ARGV[2]) then
    return now, redis.error_reply('${CLOCK_BEHIND} Redis clock is behind this host by more than writeDeadlineMargin, write not applied: sync the clocks (NTP) or raise writeDeadlineMargin')
  end
  return now, nil
end
`;

/** ARGV of a write script before its own arguments: deadline, notBefore. */
export const WINDOW_ARGS = 2;

/** Hands out the deadline window of each write at the moment it is issued. */
export class WriteDeadlines {
  constructor(
    /** The client's `commandTimeout` in ms; `undefined`: commands never time out, so writes carry no deadline. */
    private readonly commandTimeout: number | undefined,
    /** `writeDeadlineMargin`, ms. */
    private readonly margin: number,
    /**
     * The wall clock: Redis compares with its own, so it is never the cache's injectable
     * clock (a test clock would make every write late or early). A seam for tests only.
     */
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** For `client`, whose `commandTimeout` (per node on a Cluster) is the one that times writes out. */
  static forClient(client: Redis | Cluster, margin: number, now?: () => number): WriteDeadlines {
    const timeout = commandTimeoutOf(client);
    if (timeout !== undefined && margin >= timeout) {
      throw new CacheConfigError(
        'writeDeadlineMargin',
        `${margin} ms is not below the client's commandTimeout of ${timeout} ms, so every write would be past its deadline when sent`,
        'lower writeDeadlineMargin (to what the clocks of your app hosts and Redis guarantee) or raise commandTimeout',
      );
    }
    return new WriteDeadlines(timeout, margin, now);
  }

  /** `[deadline, notBefore]` of a write issued now, in ms since the epoch; `[0, 0]` without a command timeout. */
  window(): [number, number] {
    if (this.commandTimeout === undefined) return [0, 0];
    const issued = this.now();
    return [issued + this.commandTimeout - this.margin, issued - this.margin];
  }
}

/** The ioredis `commandTimeout` commands of `client` get, if any (Cluster: its `redisOptions`). */
export function commandTimeoutOf(client: Redis | Cluster): number | undefined {
  const timeout: unknown = client instanceof Cluster ? client.options.redisOptions?.commandTimeout : client.options.commandTimeout;
  return typeof timeout === 'number' && timeout > 0 ? timeout : undefined;
}
