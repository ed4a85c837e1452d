import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { SETTINGS, type Settings } from '@doubletap/config';
import { ID_PATTERN, isValidId } from '@doubletap/events';
import { createKafka, partitionCount } from '@doubletap/kafka';
import { Gauge, type HealthRegistry, type Logger, type Registry } from '@doubletap/observability';
import { formatCount, ViewerLikeClient, type ViewerLikeUnknownReason } from '@doubletap/queries';
import {
  type CountSnapshot,
  createRedis,
  LikesReader,
  healingReason,
  LiveCounts,
  type LiveSubscription,
  MAX_POSTS_PER_READ,
  readOwner,
  readSideStatus,
  redisReady,
  ReadRequestError,
  ReadSideHealingError,
  ReadUnavailableError,
  type Redis,
} from '@doubletap/redis';
import { ProblemException, unavailable } from '../http/problem';
import { HEALTH, LOGGER, METRICS } from '../platform/tokens';

/** A count as the api shows it (JSON bodies and SSE events). */
export interface CountView {
  postId: string;
  count: number;
  /** the way the app shows it: 999, 1,234, 12.3K, 1.2M */
  display: string;
  /** ISO 8601 time of the last change; null for a post nobody has liked yet */
  asOf: string | null;
}

/** Why likedByViewer is null although a token was sent (the X-Liked-By-Viewer-Unavailable header). */
export type ViewerUnknownReason = ViewerLikeUnknownReason | 'starting';

export type ViewerAnswer = { liked: boolean } | { liked: null; reason: ViewerUnknownReason };

export const toView = (s: CountSnapshot): CountView => ({
  postId: s.postId,
  count: s.count,
  display: formatCount(s.count),
  asOf: s.asOf === null ? null : new Date(s.asOf).toISOString(),
});

/** How long "did I like it" may take in total before it is answered null/timeout. */
const VIEWER_QUERY_TIMEOUT_MS = 250;
/** The partition count of the events topic is re-read this often (partitions can be added). */
const PARTITIONS_REFRESH_MS = 60_000;
/** Retry-After of a read refused while the read side heals (a heal of likes.counts takes seconds). */
const HEALING_RETRY_AFTER_S = 2;

export const invalidId = (what: string, id: string): ProblemException =>
  new ProblemException(
    400,
    'invalid-id',
    `${what} ${JSON.stringify(id)} does not match ${String(ID_PATTERN)}`,
  );

/**
 * The read side of one api process: count reads from the Redis projection (fail fast: a command
 * never waits for a reconnect, so Redis down is a 503 at once; a read side that is healing after a
 * Redis data loss is a 503 too, never a partial total — ADR 0008), the process-wide live-count hub
 * (one subscriber connection shared by every SSE viewer), and the interactive "did I like it"
 * query to the aggregator owning partition(postId/userId).
 */
@Injectable()
export class ReadSide implements OnModuleInit, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly reader: LikesReader;
  readonly live: LiveCounts;
  private readonly redis: Redis;
  private readonly viewerLikes: ViewerLikeClient;
  private partitions = 0;
  private partitionsTimer?: NodeJS.Timeout;
  private stopped = false;
  /** open SSE responses, ended before the HTTP server closes (it would wait for them otherwise) */
  private readonly streams = new Set<() => void>();

  constructor(
    @Inject(SETTINGS) private readonly settings: Settings,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) metrics: Registry,
    @Inject(HEALTH) health: HealthRegistry,
  ) {
    const { url, keyPrefix } = settings.redis;
    this.redis = createRedis({ url, name: 'doubletap-api-reads', commandTimeoutMs: 500 });
    this.redis.on('error', (err: Error) => logger.debug({ err }, 'reads: redis error'));
    this.reader = new LikesReader(this.redis, keyPrefix);
    // not ready while reads would be refused: a load balancer sends them to a replica that can
    // answer (every replica shares the one Redis, so during a heal none is ready; startup waits)
    health.register('read-side', async () => {
      const status = await readSideStatus(this.redis, keyPrefix);
      if (!status.complete) throw new Error(healingReason(status));
    });
    this.live = new LiveCounts({
      url,
      prefix: keyPrefix,
      reader: this.reader,
      logger: logger.child({ component: 'live-counts' }),
    });
    this.viewerLikes = new ViewerLikeClient({
      lookupOwner: (partition) => readOwner(this.redis, keyPrefix, partition),
      timeoutMs: VIEWER_QUERY_TIMEOUT_MS,
      logger,
    });
    const live = this.live;
    const streams = this.streams;
    new Gauge({
      name: 'doubletap_api_live_streams',
      help: 'open SSE count streams',
      registers: [metrics],
      collect() {
        this.set(streams.size);
      },
    });
    new Gauge({
      name: 'doubletap_api_live_channels',
      help: 'posts with at least one live viewer in this process (Redis channels subscribed)',
      registers: [metrics],
      collect() {
        this.set(live.stats().channels);
      },
    });
  }

  /** Gives the Redis connection a moment, so the first reads after startup are not 503s. */
  async onModuleInit(): Promise<void> {
    void this.resolvePartitions();
    await redisReady(this.redis, 2000).catch((err: unknown) =>
      this.logger.warn({ err }, 'reads: Redis not reachable at startup; reads answer 503 until it is'),
    );
  }

  /** Ends every open stream (clients reconnect to another replica after the retry hint). */
  beforeApplicationShutdown(): void {
    this.stopped = true;
    for (const end of [...this.streams]) end();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.partitionsTimer);
    await this.live.close();
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  get acceptingStreams(): boolean {
    return !this.stopped;
  }

  trackStream(end: () => void): () => void {
    this.streams.add(end);
    return () => void this.streams.delete(end);
  }

  async count(postId: string): Promise<CountView> {
    return toView(await this.mapErrors(() => this.reader.getCount(postId)));
  }

  async counts(postIds: readonly string[]): Promise<CountView[]> {
    return (await this.mapErrors(() => this.reader.getMany(postIds))).map(toView);
  }

  /** A live view of one post; the current count first (see LiveCounts.watch). */
  watch(postId: string, current: CountView): LiveSubscription {
    const sub = this.live.watch(postId);
    // the snapshot just read goes out at once; the hub's own post-SUBSCRIBE read is then only
    // delivered if it is newer (subscriptions ignore updates not newer than the last offered)
    sub.offer({
      postId,
      count: current.count,
      asOf: current.asOf === null ? null : Date.parse(current.asOf),
    });
    return sub;
  }

  /** Never throws and never waits longer than VIEWER_QUERY_TIMEOUT_MS (plus a tick). */
  async likedByViewer(postId: string, userId: string): Promise<ViewerAnswer> {
    if (this.partitions < 1) return { liked: null, reason: 'starting' };
    const answer = await this.viewerLikes.likedByViewer(postId, userId, this.partitions);
    return answer.liked === null ? { liked: null, reason: answer.reason } : { liked: answer.liked };
  }

  checkId(postId: string): void {
    if (!isValidId(postId)) throw invalidId('postId', postId);
  }

  readonly maxPosts = MAX_POSTS_PER_READ;

  private async mapErrors<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (e) {
      if (e instanceof ReadRequestError) throw new ProblemException(400, 'bad-request', e.message);
      if (e instanceof ReadSideHealingError)
        throw new ProblemException(
          503,
          'read-side-healing',
          `the like counts are being restored after a loss of the read model (${e.message}); no partial count is served, retry shortly`,
          { 'retry-after': String(HEALING_RETRY_AFTER_S) },
          { restored: e.restored, partitions: e.partitions },
        );
      if (e instanceof ReadUnavailableError)
        throw unavailable(`the read model (Redis) cannot answer: ${e.message}`, 1);
      throw e;
    }
  }

  /**
   * The partition count of the events topic, from Kafka (the same number the producer's
   * partitioner uses), not from configuration: asking the owner of the wrong partition could
   * give a wrong answer. Until it is known, likedByViewer is null with reason "starting".
   */
  private async resolvePartitions(): Promise<void> {
    let delay = 200;
    const kafka = createKafka({
      brokers: this.settings.kafka.brokers,
      clientId: `${this.settings.kafka.clientId}-api-reads`,
      connectionTimeout: 1000,
      requestTimeout: 3000,
      retries: 1,
    });
    const topic = this.settings.topics.events;
    while (!this.stopped) {
      try {
        const n = await partitionCount(kafka, topic);
        if (n > 0) {
          if (n !== this.partitions)
            this.logger.info({ topic, partitions: n }, 'reads: partition count known');
          this.partitions = n;
          delay = PARTITIONS_REFRESH_MS;
        } else {
          this.logger.warn({ topic }, 'reads: events topic has no partitions (does it exist?)');
        }
      } catch (err) {
        this.logger.warn({ err, retryInMs: delay }, 'reads: cannot read the partition count');
      }
      await new Promise<void>((resolve) => {
        this.partitionsTimer = setTimeout(resolve, delay);
        this.partitionsTimer.unref();
      });
      if (delay < PARTITIONS_REFRESH_MS) delay = Math.min(delay * 2, 5000);
    }
  }
}
