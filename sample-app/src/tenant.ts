import { BadRequestException, Injectable } from '@nestjs/common';
import { CacheManager } from 'nestjs-tenant-cache';

/** The header that names the tenant. `CacheModule` resolves it with `fromHeader(TENANT_HEADER)`. */
export const TENANT_HEADER = 'x-tenant-id';

/**
 * The tenant of the running request, for the sample's controllers and services. It asks the
 * library (which resolved the tenant once, with the strategy configured in `CacheModule`, and
 * keeps it in AsyncLocalStorage) instead of reading the header a second time, and it stays a
 * singleton: injecting the request-scoped `TENANT_ID` would make every consumer per-request.
 */
@Injectable()
export class CurrentTenant {
  constructor(private readonly cache: CacheManager) {}

  /** The tenant id; a 400 when the request names none. */
  require(): string {
    const tenant = this.cache.currentTenantId();
    if (tenant === undefined) throw new BadRequestException(`This route is per tenant: send the ${TENANT_HEADER} header (try acme or globex)`);
    return tenant;
  }
}
