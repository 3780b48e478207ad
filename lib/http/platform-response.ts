/**
 * The few response operations the interceptors need, on an Express `Response` (a Node
 * `ServerResponse`) or a `FastifyReply`. Both have `statusCode`, `getHeader` and `getHeaders`;
 * they differ in how a header and the status are set.
 */
export interface HttpResponseLike {
  statusCode: number;
  getHeader(name: string): unknown;
  getHeaders(): Record<string, unknown>;
  // Express: setHeader(name, value); Fastify: header(name, value), code(status), raw.
  setHeader?(name: string, value: string | number | readonly string[]): unknown;
  header?(name: string, value: unknown): unknown;
  code?(status: number): unknown;
  raw?: unknown;
}

/** True for a Fastify reply (it wraps the Node response in `raw` and sets the status with `code`). */
export function isFastifyReply(res: HttpResponseLike): boolean {
  return res.raw !== undefined && typeof res.code === 'function';
}

export function setHeader(res: HttpResponseLike, name: string, value: string): void {
  // Express's res.set()/header() rewrites a Content-Type (adds a charset); setHeader keeps it exact.
  if (typeof res.setHeader === 'function' && res.raw === undefined) res.setHeader(name, value);
  else res.header!(name, value);
}

/** Whether the response's headers have gone out (Express `headersSent`, Fastify `reply.sent`). */
export function isHeadersSent(res: HttpResponseLike): boolean {
  const r = res as { headersSent?: unknown; sent?: unknown; raw?: { headersSent?: unknown } };
  return r.headersSent === true || r.sent === true || r.raw?.headersSent === true;
}

export function setStatus(res: HttpResponseLike, status: number): void {
  if (isFastifyReply(res)) res.code!(status);
  else res.statusCode = status;
}

/** A header value as one string (list headers joined with `, `), or `undefined`. */
export function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.join(', ');
  return String(value);
}
