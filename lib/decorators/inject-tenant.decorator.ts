import { Inject } from '@nestjs/common';
import { TENANT_ID } from '../cache.constants.js';

/**
 * Injects the tenant id of the current request (`string | undefined`), the same as
 * `@Inject(TENANT_ID)`. The consumer becomes request-scoped; singletons should call
 * `CacheManager.currentTenantId()` instead.
 */
export function InjectTenant(): PropertyDecorator & ParameterDecorator {
  return Inject(TENANT_ID);
}
