/**
 * A seeded xorshift32 sequence: `next(n)` is a uniformly spread index in [0, n). The bench's
 * tenant-scaling and many-URLs rows pick tenants and URLs with it, so runs are repeatable.
 */
export function xorshift32(seed) {
  let state = seed;
  return (n) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}
