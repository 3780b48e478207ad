import { BadRequestException, Body, Controller, Get, Param, Put } from '@nestjs/common';
import { Cached, InvalidateTags } from 'nestjs-tenant-cache';
import { CurrentTenant } from '../tenant.js';
import { ProductsRepository, type Product, type ProductPatch } from './products.repository.js';
import { StockService, type StockLevel } from './stock.service.js';

/**
 * Tags are per tenant: invalidating `product:1` for acme never touches globex's `product:1`.
 * - `products`: every product response of the tenant (for a bulk import, say);
 * - `products:list`: the list, which changes whenever any product does;
 * - `product:<id>`: one product.
 */
@Controller('products')
export class ProductsController {
  constructor(
    private readonly products: ProductsRepository,
    private readonly tenant: CurrentTenant,
    private readonly stock: StockService,
  ) {}

  @Get()
  @Cached({ ttl: '30s', tags: () => ['products', 'products:list'] })
  findAll(): Promise<Product[]> {
    return this.products.findAll(this.tenant.require());
  }

  @Get(':id')
  @Cached({ ttl: '30s', tags: (req) => ['products', `product:${req.params.id}`] })
  findOne(@Param('id') id: string): Promise<Product> {
    return this.products.findOne(this.tenant.require(), id);
  }

  /** Not `@Cached()`: the service method caches the stock level itself (`@CacheResult()`). */
  @Get(':id/stock')
  stockOf(@Param('id') id: string): Promise<StockLevel> {
    return this.stock.stockOf(id);
  }

  /** Updates a product; the tenant's cached copy of it and of the list are dropped. */
  @Put(':id')
  @InvalidateTags((req) => [`product:${req.params.id}`, 'products:list'])
  update(@Param('id') id: string, @Body() body: unknown): Promise<Product> {
    return this.products.update(this.tenant.require(), id, parsePatch(body));
  }
}

function parsePatch(body: unknown): ProductPatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestException('Send a JSON object such as {"priceCents": 999}');
  const { name, priceCents, stock, ...rest } = body as Record<string, unknown>;
  const unknownFields = Object.keys(rest);
  if (unknownFields.length > 0) throw new BadRequestException(`Unknown field(s): ${unknownFields.join(', ')}; allowed: name, priceCents, stock`);
  const patch: { -readonly [K in keyof ProductPatch]: ProductPatch[K] } = {};
  if (name !== undefined) {
    if (typeof name !== 'string' || name.trim() === '') throw new BadRequestException('name must be a non-empty string');
    patch.name = name;
  }
  if (priceCents !== undefined) {
    if (!Number.isSafeInteger(priceCents) || (priceCents as number) < 0) throw new BadRequestException('priceCents must be a non-negative integer');
    patch.priceCents = priceCents as number;
  }
  if (stock !== undefined) {
    if (!Number.isSafeInteger(stock) || (stock as number) < 0) throw new BadRequestException('stock must be a non-negative integer');
    patch.stock = stock as number;
  }
  return patch;
}
