import { type DynamicModule, Global, Module } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { HealthRegistry, type Logger, type Registry } from '@doubletap/observability';
import { HEALTH, LOGGER, METRICS } from './tokens';

/** Settings, the structured logger, the metrics registry and the readiness checks, for every module. */
@Global()
@Module({})
export class PlatformModule {
  static register(settings: Settings, logger: Logger, metrics: Registry): DynamicModule {
    return {
      module: PlatformModule,
      providers: [
        { provide: SETTINGS, useValue: settings },
        { provide: LOGGER, useValue: logger },
        { provide: METRICS, useValue: metrics },
        { provide: HEALTH, useValue: new HealthRegistry() },
      ],
      exports: [SETTINGS, LOGGER, METRICS, HEALTH],
    };
  }
}
