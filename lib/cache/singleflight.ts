/**
 * One in-flight computation per key in this process: concurrent callers for the same key
 * share the first caller's promise (its value or its error). The entry is removed when the
 * promise settles, so a later call computes again.
 */
export class Singleflight {
  private readonly flights = new Map<string, Promise<unknown>>();

  /** The promise in flight for `key`, if any. */
  current<T>(key: string): Promise<T> | undefined {
    return this.flights.get(key) as Promise<T> | undefined;
  }

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const existing = this.flights.get(key);
    if (existing !== undefined) return existing as Promise<T>;
    const flight = (async () => {
      try {
        return await fn();
      } finally {
        this.flights.delete(key);
      }
    })();
    this.flights.set(key, flight);
    return flight;
  }

  get size(): number {
    return this.flights.size;
  }
}
