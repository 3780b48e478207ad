import { Module } from '@nestjs/common';
import { CacheStatsController } from './cache-stats.controller.js';
import { HealthController } from './health.controller.js';

@Module({ controllers: [CacheStatsController, HealthController] })
export class OpsModule {}
