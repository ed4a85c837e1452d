import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { type CountSnapshot, healingReason, LikesReader, type Redis, readSideStatus } from '@doubletap/redis';
import { REDIS } from '../platform/tokens';
import type { CountRepository } from './count.repository';

/** Counts from the Redis projection through the generation pointer (one script call per read). */
@Injectable()
export class RedisCountRepository implements CountRepository {
  private readonly reader: LikesReader;
  private readonly prefix: string;

  constructor(
    @Inject(SETTINGS) settings: Settings,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    this.prefix = settings.redis.keyPrefix;
    this.reader = new LikesReader(redis, this.prefix);
  }

  count(postId: string): Promise<CountSnapshot> {
    return this.reader.getCount(postId);
  }

  counts(postIds: readonly string[]): Promise<CountSnapshot[]> {
    return this.reader.getMany(postIds);
  }

  async healing(): Promise<string | undefined> {
    const status = await readSideStatus(this.redis, this.prefix);
    return status.complete ? undefined : healingReason(status);
  }
}
