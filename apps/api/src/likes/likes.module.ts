import { Module } from '@nestjs/common';
import { AuthModule } from '../auth/auth.module';
import { EventProducer } from './event-producer.service';
import { LikesController } from './likes.controller';
import { LikesService } from './likes.service';
import { RateLimiter } from './rate-limiter.service';

@Module({
  imports: [AuthModule],
  controllers: [LikesController],
  providers: [EventProducer, RateLimiter, LikesService],
})
export class LikesModule {}
