import { Module } from '@nestjs/common';
import { CurrentTenant } from '../tenant.js';
import { ProductsController } from './products.controller.js';
import { ProductsRepository } from './products.repository.js';

@Module({
  controllers: [ProductsController],
  providers: [ProductsRepository, CurrentTenant],
  exports: [ProductsRepository],
})
export class ProductsModule {}
