import type { HttpMeta } from '../envelope/envelope.js';
import { withRemainingFreshness } from './freshness.js';
import { isReplayable, type HeaderPolicy } from './response-policy.js';

/** How one stored header is replayed: as stored, or rewritten to the entry's remaining lifetime. */
const enum HeaderKind {
  Plain,
  CacheControl,
  Expires,
}

/**
 * What replaying one stored response takes, worked out on its first hit and kept with the entry
 * (a memory-store entry is the same object on every hit): the headers the policy lets through,
 * in stored order, and the `Last-Modified` to compare. The strings that depend on the time
 * (`Age`, a `Cache-Control` rewritten to what is left, `Expires`) change once a second at most,
 * so the last ones made are kept and made again only when their second changes.
 */
export class ReplayPlan {
  readonly names: readonly string[];
  readonly values: readonly string[];
  readonly kinds: readonly HeaderKind[];
  readonly lastModified: string | undefined;
  private ageS = -1;
  private ageText = '';
  /** The last rewritten `Cache-Control` and `Expires`: for which header and second, and the text. */
  private cacheControlAt = -1;
  private lifetimeS = -1;
  private cacheControlText = '';
  private expiresAt = -1;
  private expiresS = Number.NaN;
  private expiresText = '';

  constructor(
    http: HttpMeta,
    readonly policy: HeaderPolicy,
  ) {
    const names: string[] = [];
    const values: string[] = [];
    const kinds: HeaderKind[] = [];
    let lastModified: string | undefined;
    for (const [name, value] of http.headers) {
      if (name === 'last-modified' && lastModified === undefined) lastModified = value;
      if (!isReplayable(name, policy)) continue;
      names.push(name);
      values.push(value);
      kinds.push(name === 'cache-control' ? HeaderKind.CacheControl : name === 'expires' ? HeaderKind.Expires : HeaderKind.Plain);
    }
    this.names = names;
    this.values = values;
    this.kinds = kinds;
    this.lastModified = lastModified;
  }

  /** `String(ageS)`, kept while the age stays the same. */
  age(ageS: number): string {
    if (ageS !== this.ageS) {
      this.ageS = ageS;
      this.ageText = String(ageS);
    }
    return this.ageText;
  }

  /**
   * The value of header `i` for an entry with `lifetimeS` seconds of freshness left (plus the
   * Age sent), at `now`: as stored without a lifetime; a `Cache-Control` whose `max-age` and
   * `s-maxage` claim no more than that; an `Expires` that far from now.
   */
  value(i: number, lifetimeS: number | undefined, now: number): string {
    const kind = this.kinds[i];
    if (lifetimeS === undefined || kind === HeaderKind.Plain) return this.values[i]!;
    if (kind === HeaderKind.CacheControl) {
      if (lifetimeS !== this.lifetimeS || i !== this.cacheControlAt) {
        this.cacheControlAt = i;
        this.lifetimeS = lifetimeS;
        this.cacheControlText = withRemainingFreshness(this.values[i]!, lifetimeS);
      }
      return this.cacheControlText;
    }
    // Against the Date the platform sends now (a whole second): what is left, plus the Age sent.
    const expiresS = Math.floor(now / 1000) + lifetimeS;
    if (expiresS !== this.expiresS || i !== this.expiresAt) {
      this.expiresAt = i;
      this.expiresS = expiresS;
      this.expiresText = new Date(now + lifetimeS * 1000).toUTCString();
    }
    return this.expiresText;
  }
}

const plans = new WeakMap<object, ReplayPlan>();

/** The replay plan of a stored response under a header policy (made on its first hit). */
export function replayPlanOf(entry: { readonly http: HttpMeta }, policy: HeaderPolicy): ReplayPlan {
  let plan = plans.get(entry);
  if (plan === undefined || plan.policy !== policy) {
    plan = new ReplayPlan(entry.http, policy);
    plans.set(entry, plan);
  }
  return plan;
}
