/**
 * Settles as `work` does, or rejects with `timedOut()` once `ms` have passed since the call
 * (the moment the caller issued its command), whichever comes first.
 *
 * Why the store needs its own: ioredis starts a command's `commandTimeout` only when it writes
 * the command. A command held behind a stuck auto-pipeline (ioredis sends one pipeline at a
 * time), or waiting for the first connection, would otherwise wait longer than the timeout, and
 * a request waits with it. The command itself is not cancelled: a late reply is ignored, and a
 * late rejection is handled here (never unhandled).
 */
export function withDeadline<T>(work: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut()), ms);
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}

/** `call()`, with a synchronous throw turned into a rejection. */
export function invoke<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call();
  } catch (err) {
    return Promise.reject(err);
  }
}
