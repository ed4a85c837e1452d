import { Module } from '@nestjs/common';
import { ConfigModule } from '@doubletap/config';
import { createMetricsRegistry } from '@doubletap/observability';
import { LagMonitorService } from './lag-monitor.service';
import { MonitorController } from './monitor.controller';
import { METRICS } from './tokens';

@Module({
  imports: [ConfigModule],
  controllers: [MonitorController],
  providers: [LagMonitorService, { provide: METRICS, useFactory: () => createMetricsRegistry('monitor') }],
})
export class MonitorModule {}
