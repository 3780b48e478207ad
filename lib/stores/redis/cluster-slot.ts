/** Hash slots of a Redis Cluster. */
const SLOTS = 16_384;

/** CRC16/XMODEM (polynomial 0x1021), the checksum Redis Cluster maps keys to slots with. */
const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    table[i] = crc & 0xffff;
  }
  return table;
})();

function crc16(bytes: Uint8Array, from: number, to: number): number {
  let crc = 0;
  for (let i = from; i < to; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

/**
 * The hash slot of `key`, as Redis computes it (CLUSTER KEYSLOT): of its hash tag (what is
 * between the first `{` and the next `}`) if that is not empty, else of the whole key, on its
 * UTF-8 bytes. The store needs it before sending a call, to know which node the call goes to.
 */
export function clusterSlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  const open = bytes.indexOf(0x7b);
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1);
    if (close > open + 1) return crc16(bytes, open + 1, close) % SLOTS;
  }
  return crc16(bytes, 0, bytes.length) % SLOTS;
}
