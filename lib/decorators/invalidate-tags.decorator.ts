import { SetMetadata } from '@nestjs/common';
import { INVALIDATE_TAGS_METADATA } from '../cache.constants.js';
import type { InvalidateTagsMetadata, InvalidateTagsOptions, TagsSource } from '../options/cached-options.interface.js';
import type { CacheRequest } from '../tenant/tenant-resolver.interface.js';

/**
 * After the handler succeeds (it did not throw and the status is below 400), deletes the
 * entries of the request's tenant written with any of `tags`, before the response is sent:
 *
 * ```ts
 * @Put(':id')
 * @InvalidateTags((req) => [`product:${req.params.id}`])
 * update(…) { … }
 * ```
 *
 * A failed invalidation does not fail the request: it is logged (once per burst), counted,
 * and retried in the background with backoff (`invalidationRetry`).
 */
export function InvalidateTags<I = CacheRequest>(tags: TagsSource<I>, options: InvalidateTagsOptions = {}): MethodDecorator {
  const metadata: InvalidateTagsMetadata = { tags: tags as TagsSource, options: { ...options } };
  return SetMetadata(INVALIDATE_TAGS_METADATA, metadata);
}
