import { Module } from '@nestjs/common';
import { CurrentTenant } from '../tenant.js';
import { ProductsController } from './products.controller.js';
import { ProductsRepository } from './products.repository.js';
import { StockService } from './stock.service.js';

@Module({
  controllers: [ProductsController],
  providers: [ProductsRepository, CurrentTenant, StockService],
  exports: [ProductsRepository],
})
export class ProductsModule {}
