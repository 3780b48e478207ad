/**
 * A flat copy of a string, for one that is kept long after the request it came from: in V8 a
 * string cut from a longer one (a tenant id taken from a 16 KB `Host` header, `split` or `slice`
 * of 13 characters or more) keeps the whole of the longer one alive. Copy once, where the string
 * is first kept (a map key, a memo), never per request.
 */
export function ownString(value: string): string {
  // `slice` flattens the joined string into a new one, and takes its piece of that.
  return (' ' + value).slice(1);
}
