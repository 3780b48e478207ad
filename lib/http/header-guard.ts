import { unkeyedHeaderFix, unkeyedHeaderProblem, UnkeyedHeaderError } from '../errors/cache.errors.js';
import type { CacheLogger } from '../utils/error-reporter.js';
import type { HeaderGuardMode } from '../options/cache-module-options.interface.js';
import { recordHeaderReads, type HeaderRecording } from './header-reads.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';


/**
 * Request headers any handler may read without them being in the key, because they never
 * choose the representation: the message framing and connection headers (a GET or HEAD with a
 * body bypasses the cache), and the conditional and cache directives the cache answers itself.
 */
export const DEFAULT_SAFE_HEADERS: readonly string[] = Object.freeze([
  'connection',
  'keep-alive',
  'te',
  'upgrade',
  'expect',
  'content-length',
  'transfer-encoding',
  'content-type',
  'content-encoding',
  'if-none-match',
  'if-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  'cache-control',
  'pragma',
]);

/** What decides, for one route, which headers its handler may read. */
export interface ReadableHeadersInput {
  readonly vary: readonly string[];
  readonly scope: 'tenant' | 'user' | 'global';
  readonly explicitScope: boolean;
  /** The module's `safeHeaders` (lowercased). */
  readonly safeHeaders: readonly string[];
  /** The module's `credentialHeaders` (lowercased). */
  readonly credentialHeaders: readonly string[];
  /** The header the tenant strategy reads the id from as it is, if any (`fromHeader()`). */
  readonly tenantHeader: string | undefined;
  /**
   * Whether a `scope: 'user'` route's user comes from the credentials (the default `userId`:
   * `req.user`, which an authentication guard sets from them); with a `userId` of your own it
   * may not, and the credential headers are then unkeyed like any other. Default true.
   */
  readonly userFromCredentials?: boolean;
}

/**
 * The request headers a route's handler may read: those its key holds (its `vary`, the tenant
 * header when the key holds the tenant), the safe ones, and the credential headers where no
 * request carrying one is served from the cache (a route without an explicit `scope`) or
 * where the key holds the user they identify (`scope: 'user'` with the default `userId`).
 */
export function readableHeaders(input: ReadableHeadersInput): ReadonlySet<string> {
  const names = new Set([...DEFAULT_SAFE_HEADERS, ...input.safeHeaders, ...input.vary]);
  if (input.scope !== 'global' && input.tenantHeader !== undefined) names.add(input.tenantHeader);
  const keyedByUser = input.scope === 'user' && input.userFromCredentials !== false;
  if (!input.explicitScope || keyedByUser) for (const name of input.credentialHeaders) names.add(name);
  return names;
}

/** A route as the guard sees it. */
export interface GuardedRoute {
  readonly controller: string;
  readonly handler: string;
  readonly readableHeaders: ReadonlySet<string>;
}

/**
 * The unkeyed-input guard: while a miss runs its handler, the request headers it reads are
 * recorded; a response that read one the key does not hold (nor the safe list) is not stored,
 * and the route is reported once per set of headers (`warn`), or the request fails with
 * `UnkeyedHeaderError` (`strict`). Hits never pass through here.
 */
export class HeaderGuard {
  private readonly reported = new Set<string>();

  constructor(
    readonly mode: HeaderGuardMode,
    private readonly logger: CacheLogger | undefined,
  ) {}

  /** Starts recording a miss's header reads; `undefined` when the guard is off or cannot see them. */
  start(req: CacheRequest): HeaderRecording | undefined {
    return this.mode === 'off' ? undefined : recordHeaderReads(req);
  }

  /**
   * Ends a recording. Returns the unkeyed headers read (sorted; `'*'` when enumerated), empty
   * when none; throws `UnkeyedHeaderError` in strict mode. `varied`: the headers the response's
   * own `Vary` names (lowercased), which its entry is matched on.
   */
  finish(recording: HeaderRecording | undefined, route: GuardedRoute, varied: readonly string[]): readonly string[] {
    if (recording === undefined) return [];
    const reads = recording.stop();
    // Enumerated: whatever names this request happened to carry, any header may have been read.
    const unkeyed: string[] = reads.enumerated ? ['*'] : [];
    if (!reads.enumerated) for (const name of reads.names) if (!route.readableHeaders.has(name) && !varied.includes(name)) unkeyed.push(name);
    if (unkeyed.length === 0) return unkeyed;
    unkeyed.sort();
    const id = `${route.controller}.${route.handler}`;
    if (this.mode === 'strict') {
      const error = new UnkeyedHeaderError(id, unkeyed);
      this.once(id, unkeyed, () => this.logger?.error(error.message));
      throw error;
    }
    this.once(id, unkeyed, () => this.logger?.warn(`${unkeyedHeaderProblem(id, unkeyed)} ${unkeyedHeaderFix(unkeyed)}`));
    return unkeyed;
  }

  private once(id: string, headers: readonly string[], log: () => void): void {
    const key = `${id}|${headers.join(',')}`;
    if (this.reported.has(key)) return;
    // Bounded: a handler reading attacker-chosen header names cannot grow it without limit.
    if (this.reported.size >= 1_000) return;
    this.reported.add(key);
    log();
  }
}
