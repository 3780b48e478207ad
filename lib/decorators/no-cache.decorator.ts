import { SetMetadata } from '@nestjs/common';
import { NO_CACHE_METADATA } from '../cache.constants.js';

/** Opts a handler out of its controller's class-level `@Cached()`. */
export function NoCache(): MethodDecorator {
  return SetMetadata(NO_CACHE_METADATA, true);
}
