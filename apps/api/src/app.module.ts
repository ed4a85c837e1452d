import { type DynamicModule, Module } from '@nestjs/common';
import type { Settings } from '@doubletap/config';
import type { Logger, Registry } from '@doubletap/observability';
import { DevTokenModule } from './dev/dev-token.module';
import { HealthModule } from './health/health.module';
import { LikesModule } from './likes/likes.module';
import { PlatformModule } from './platform/platform.module';
import { RedisModule } from './platform/redis.module';
import { ReadsModule } from './reads/reads.module';

@Module({})
export class AppModule {
  static register(settings: Settings, logger: Logger, metrics: Registry): DynamicModule {
    return {
      module: AppModule,
      imports: [
        PlatformModule.register(settings, logger, metrics),
        RedisModule,
        LikesModule,
        ReadsModule,
        HealthModule,
        DevTokenModule.register(settings),
      ],
    };
  }
}
