import type { Envelope, HttpMeta } from '../../envelope/envelope.js';
import type { ScopeVersions, TagVersion } from './scope-versions.js';

/**
 * What the memory store holds under a key: the envelope (its fields as they were written, the
 * value already copied where it must be) and, invisible to readers (private fields: not
 * enumerable, not copied by a spread), what the entry is based on and the records its reads
 * compare with. The hit path reads one object: the check of an entry whose scope changed nothing
 * since its write is one compare (`readable`).
 */
export class HeldEntry implements Envelope {
  readonly value: unknown;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly staleUntil: number | undefined;
  readonly tags: readonly string[] | undefined;
  readonly http: HttpMeta | undefined;
  readonly stamp: string;
  readonly scope: string;
  /** How long its computation ran (eager refresh by XFetch weighs the expiry by it). */
  readonly computeMs: number | undefined;
  readonly #basis: number;
  readonly #versions: ScopeVersions;
  readonly #tagVersions: readonly TagVersion[] | undefined;

  constructor(env: Envelope, value: unknown, basis: number, versions: ScopeVersions, tagVersions: readonly TagVersion[] | undefined) {
    // Every field assigned, absent ones as undefined: one object shape for all entries.
    this.value = value;
    this.createdAt = env.createdAt;
    this.expiresAt = env.expiresAt;
    this.staleUntil = env.staleUntil;
    this.tags = env.tags;
    this.http = env.http;
    this.stamp = env.stamp;
    this.scope = env.scope;
    this.computeMs = env.computeMs;
    this.#basis = basis;
    this.#versions = versions;
    this.#tagVersions = tagVersions;
  }

  /** Whether no clear of its scope and no invalidation of its tags came after its basis. */
  readable(): boolean {
    return this.#basis >= this.#versions.changed || this.readableSince();
  }

  private readableSince(): boolean {
    const basis = this.#basis;
    if (this.#versions.epoch > basis) return false;
    const tags = this.#tagVersions;
    if (tags !== undefined) for (const tag of tags) if (tag.version > basis) return false;
    return true;
  }
}
