import { ReplyError } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { COMMAND_TIMED_OUT, isConnectionFailure, isOutOfMemory, isTimeout } from '../../lib/stores/redis/redis.failures.js';
import { withDeadline } from '../../lib/stores/redis/redis-command.deadline.js';

/** A reply error as ioredis hands it over (redis-errors' ReplyError). */
const reply = (message: string): Error => new (ReplyError as new (message: string) => Error)(message);

describe('Redis fault classes', () => {
  const oom = reply("OOM command not allowed when used memory > 'maxmemory'.");
  const scriptOom = reply("OOM command not allowed when used memory > 'maxmemory'. script: bd6f3018b28bbdb36260f19d3c44afed740db987, on @user_script:1.");
  const wrongType = reply('WRONGTYPE Operation against a key holding the wrong kind of value');
  const timeout = new Error(COMMAND_TIMED_OUT);
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });

  it('a full Redis (OOM, also from inside a script) is its own class: not a connection failure, not a timeout', () => {
    for (const err of [oom, scriptOom]) {
      expect(isOutOfMemory(err)).toBe(true);
      expect(isConnectionFailure(err, 'ready')).toBe(false);
      expect(isConnectionFailure(err, 'reconnecting')).toBe(false); // the server answered, whatever the client's state
      expect(isTimeout(err)).toBe(false);
    }
    // Only a reply counts: a message that merely starts so is not Redis refusing a write.
    expect(isOutOfMemory(new Error('OOM command not allowed'))).toBe(false);
  });

  it('other error replies are neither an outage nor a full store', () => {
    expect(isOutOfMemory(wrongType)).toBe(false);
    expect(isTimeout(wrongType)).toBe(false);
    expect(isConnectionFailure(wrongType, 'ready')).toBe(false);
  });

  it('timeouts and connection failures are outages', () => {
    expect(isTimeout(timeout)).toBe(true);
    expect(isConnectionFailure(timeout, 'ready')).toBe(false);
    expect(isConnectionFailure(refused, 'ready')).toBe(true);
    expect(isConnectionFailure(new Error("Redis at h:1 isn't ready: no connection within the command timeout of 500 ms"), 'connecting')).toBe(true);
    expect(isTimeout(refused)).toBe(false);
  });
});

describe('withDeadline', () => {
  it('rejects with the given error once the time is up, and swallows the late rejection of the work', async () => {
    let rejectLate: (err: Error) => void = () => undefined;
    const work = new Promise<never>((_, reject) => (rejectLate = reject));
    const started = performance.now();
    await expect(withDeadline(work, 30, () => new Error(COMMAND_TIMED_OUT))).rejects.toThrow(COMMAND_TIMED_OUT);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    rejectLate(new Error('late')); // handled: an unhandled rejection would fail the run
  });

  it('settles as the work does when it is in time', async () => {
    await expect(withDeadline(Promise.resolve(7), 1_000, () => new Error('late'))).resolves.toBe(7);
    await expect(withDeadline(Promise.reject(new Error('no')), 1_000, () => new Error('late'))).rejects.toThrow('no');
  });
});
