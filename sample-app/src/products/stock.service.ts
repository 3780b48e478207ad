import { Injectable } from '@nestjs/common';
import { CacheResult } from 'nestjs-tenant-cache';
import { CurrentTenant } from '../tenant.js';
import { ProductsRepository } from './products.repository.js';

export interface StockLevel {
  readonly id: string;
  readonly stock: number;
  readonly checkedAt: string;
}

/**
 * A cached service method: no route, no request in sight. The result is stored in the cache of
 * the current tenant (the request's) under `stock:<id>`, tagged like the product's responses, so
 * the `PUT /products/:id` that invalidates `product:<id>` drops it too. The service stays a singleton.
 */
@Injectable()
export class StockService {
  constructor(
    private readonly products: ProductsRepository,
    private readonly tenant: CurrentTenant,
  ) {}

  @CacheResult({ key: 'stock:{0}', ttl: '30s', tags: ['products', 'product:{0}'] })
  async stockOf(id: string): Promise<StockLevel> {
    const product = await this.products.findOne(this.tenant.require(), id);
    return { id, stock: product.stock, checkedAt: new Date().toISOString() };
  }
}
