import { type DynamicModule, Module } from '@nestjs/common';
import type { Settings } from '@doubletap/config';
import { createMetricsRegistry } from '@doubletap/observability';
import { ConfigModule } from './config.module';
import { LagMonitorService } from './lag-monitor.service';
import { MonitorController } from './monitor.controller';
import { METRICS } from './tokens';

@Module({})
export class MonitorModule {
  static register(settings: Settings): DynamicModule {
    return {
      module: MonitorModule,
      imports: [ConfigModule.forSettings(settings)],
      controllers: [MonitorController],
      providers: [LagMonitorService, { provide: METRICS, useFactory: () => createMetricsRegistry('monitor') }],
    };
  }
}
