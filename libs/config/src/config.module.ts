import { Global, Module } from '@nestjs/common';
import { loadSettings, Settings } from './settings';

/** Injection token for the validated {@link Settings}. */
export const SETTINGS = Symbol('doubletap.settings');

/** Provides the validated settings to every module; loading fails fast at boot. */
@Global()
@Module({
  providers: [{ provide: SETTINGS, useFactory: (): Settings => loadSettings() }],
  exports: [SETTINGS],
})
export class ConfigModule {}
