import { Module } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import type { Registry } from '@doubletap/observability';
import { AuthModule } from '../auth/auth.module';
import { AdmissionControl, processProbes } from '../http/admission';
import { KafkaLikeEventRepository } from './kafka-like-event.repository';
import { LikeEventRepository } from './like-event.repository';
import { LikesController } from './likes.controller';
import { LikesService } from './likes.service';
import { RateLimitRepository } from './rate-limit.repository';
import { RateLimiter } from './rate-limiter.service';
import { RedisRateLimitRepository } from './redis-rate-limit.repository';
import { METRICS } from '../platform/tokens';

/**
 * Likes and unlikes: the controller, the service, the repositories behind their tokens, and the
 * admission control of writes (its hook is installed by configureHttp).
 */
@Module({
  imports: [AuthModule],
  controllers: [LikesController],
  providers: [
    { provide: LikeEventRepository, useClass: KafkaLikeEventRepository },
    { provide: RateLimitRepository, useClass: RedisRateLimitRepository },
    RateLimiter,
    LikesService,
    {
      provide: AdmissionControl,
      inject: [SETTINGS, METRICS, LikeEventRepository],
      useFactory: (settings: Settings, metrics: Registry, events: LikeEventRepository) =>
        new AdmissionControl(
          settings.api.admission,
          processProbes(settings.api.admission.sampleMs, () => events.queueDepth),
          metrics,
        ),
    },
  ],
  exports: [AdmissionControl],
})
export class LikesModule {}
