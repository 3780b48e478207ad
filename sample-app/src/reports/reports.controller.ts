import { Controller, Get } from '@nestjs/common';
import { CurrentTenant } from '../tenant.js';
import { DailyReportService, type DailyReport } from './daily-report.service.js';

@Controller('reports')
export class ReportsController {
  constructor(
    private readonly reports: DailyReportService,
    private readonly tenant: CurrentTenant,
  ) {}

  /** Not `@Cached()`: the service caches the report itself (`wrap`), the way any service can. */
  @Get('daily')
  daily(): Promise<DailyReport> {
    return this.reports.daily(this.tenant.require());
  }
}
