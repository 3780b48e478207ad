/**
 * The response every HTTP case returns: one fixed JSON object of exactly 215 bytes, the size of
 * the baseline in the issue, so the cases differ only in what runs around the handler.
 */
export const PAYLOAD = Object.freeze({
  id: 42,
  sku: 'SKU-000042',
  name: 'Benchmark product',
  price: 1999,
  currency: 'EUR',
  inStock: true,
  tags: ['bench', 'cache', 'tenant'],
  description: 'A constant response body returned by every HTTP case of a bench.',
});

export const PAYLOAD_BYTES = Buffer.byteLength(JSON.stringify(PAYLOAD));
