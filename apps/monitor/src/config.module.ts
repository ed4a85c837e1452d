import { type DynamicModule, Module } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';

/**
 * Provides settings the app already loaded (libs/runtime's runWorker loads them once, from the
 * environment) to every module: one way configuration reaches an app.
 */
@Module({})
export class ConfigModule {
  static forSettings(settings: Settings): DynamicModule {
    return { module: ConfigModule, global: true, providers: [{ provide: SETTINGS, useValue: settings }], exports: [SETTINGS] };
  }
}
