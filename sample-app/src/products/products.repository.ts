import { Injectable, NotFoundException } from '@nestjs/common';

export interface Product {
  readonly id: string;
  readonly name: string;
  /** Price in cents. */
  readonly priceCents: number;
  readonly stock: number;
  /** Bumped on every update, so a response shows which version it carries. */
  readonly version: number;
}

export type ProductPatch = Partial<Pick<Product, 'name' | 'priceCents' | 'stock'>>;

/** Every tenant starts from its own catalogue; the same id means a different product per tenant. */
const SEED: Readonly<Record<string, readonly Omit<Product, 'version'>[]>> = {
  acme: [
    { id: '1', name: 'Rocket skates', priceCents: 12_999, stock: 12 },
    { id: '2', name: 'Giant magnet', priceCents: 4_999, stock: 40 },
    { id: '3', name: 'Anvil (1 t)', priceCents: 89_900, stock: 3 },
  ],
  globex: [
    { id: '1', name: 'Hammock', priceCents: 7_900, stock: 25 },
    { id: '2', name: 'Flame thrower (decorative)', priceCents: 24_900, stock: 5 },
  ],
};

/**
 * The sample's "database": an in-memory catalogue per tenant. Reads are deliberately a bit slow
 * (like a real query), and every read is counted, so a cache hit is visible: it reads nothing.
 */
@Injectable()
export class ProductsRepository {
  private readonly tenants = new Map<string, Map<string, Product>>();
  /** Reads per tenant that reached the "database". */
  private readonly reads = new Map<string, number>();

  constructor() {
    for (const [tenant, products] of Object.entries(SEED)) {
      this.tenants.set(tenant, new Map(products.map((p) => [p.id, { ...p, version: 1 }])));
    }
  }

  /** Tenants with a catalogue. */
  tenantIds(): string[] {
    return [...this.tenants.keys()];
  }

  async findAll(tenant: string): Promise<Product[]> {
    const catalogue = await this.catalogue(tenant);
    return [...catalogue.values()];
  }

  async findOne(tenant: string, id: string): Promise<Product> {
    const product = (await this.catalogue(tenant)).get(id);
    if (product === undefined) throw new NotFoundException(`Tenant ${tenant} has no product ${id}`);
    return product;
  }

  async update(tenant: string, id: string, patch: ProductPatch): Promise<Product> {
    const catalogue = await this.catalogue(tenant);
    const current = catalogue.get(id);
    if (current === undefined) throw new NotFoundException(`Tenant ${tenant} has no product ${id}`);
    const next: Product = { ...current, ...patch, id, version: current.version + 1 };
    catalogue.set(id, next);
    return next;
  }

  /** How many reads of `tenant` reached the repository (a cache hit does not count). */
  readsOf(tenant: string): number {
    return this.reads.get(tenant) ?? 0;
  }

  private async catalogue(tenant: string): Promise<Map<string, Product>> {
    const catalogue = this.tenants.get(tenant);
    // Unknown tenants get a 404, not an empty catalogue: a header must not create data.
    if (catalogue === undefined) throw new NotFoundException(`Unknown tenant ${JSON.stringify(tenant)}; the sample knows ${this.tenantIds().join(' and ')}`);
    this.reads.set(tenant, (this.reads.get(tenant) ?? 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, 20)); // a query's latency
    return catalogue;
  }
}
