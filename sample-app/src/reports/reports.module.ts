import { Module } from '@nestjs/common';
import { ProductsModule } from '../products/products.module.js';
import { CurrentTenant } from '../tenant.js';
import { DailyReportService } from './daily-report.service.js';
import { ReportsController } from './reports.controller.js';

@Module({
  imports: [ProductsModule],
  controllers: [ReportsController],
  providers: [DailyReportService, CurrentTenant],
})
export class ReportsModule {}
