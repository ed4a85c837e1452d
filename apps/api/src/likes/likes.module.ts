import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { KafkaLikeEventRepository } from './kafka-like-event.repository';
import { LikeEventRepository } from './like-event.repository';
import { LikesController } from './likes.controller';
import { LikesService } from './likes.service';
import { RateLimitRepository } from './rate-limit.repository';
import { RateLimiter } from './rate-limiter.service';
import { RedisRateLimitRepository } from './redis-rate-limit.repository';

/** Likes and unlikes: the controller, the service, and the repositories behind their tokens. */
@Module({
  imports: [AuthModule],
  controllers: [LikesController],
  providers: [
    { provide: LikeEventRepository, useClass: KafkaLikeEventRepository },
    { provide: RateLimitRepository, useClass: RedisRateLimitRepository },
    RateLimiter,
    LikesService,
  ],
})
export class LikesModule {}
