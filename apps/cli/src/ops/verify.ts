import { InvalidEventError, likeKey, retryWhileRegistryUnavailable, type EventCodec } from '@doubletap/events';
import { partitionForKey, readRanges, topicOffsets, type Kafka } from '@doubletap/kafka';
import { LikesReader, MAX_POSTS_PER_READ, type Redis } from '@doubletap/redis';
import { Progress } from '../progress';
import { diffCounts, LastActionOracle, type Mismatch } from '@doubletap/likes';

/**
 * How long a recount waits for an unavailable schema registry before it fails (never skipping the
 * record). Short: the wait blocks a batch of the range reader, whose group session is 10 s, and
 * one decode attempt can itself take a request timeout (3 s); rerun the command once it is back.
 */
const REGISTRY_PATIENCE_MS = 4_000;

export interface VerifyDeps {
  kafka: Kafka;
  codec: EventCodec;
  /** likes.events */
  topic: string;
  /** only these posts (default: every post in the log) */
  posts?: string[];
  /** compare with the read API's GET /v1/likes; otherwise with Redis through LikesReader */
  apiUrl?: string;
  redis?: Redis;
  prefix: string;
  concurrency?: number;
  signal?: AbortSignal;
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface VerifyResult {
  ok: boolean;
  topic: string;
  /** log end offsets the recount covered (exclusive), per partition */
  upTo: Record<string, number>;
  events: number;
  /** records the aggregator dead-letters (undecodable, invalid, wrong partition): not counted */
  skipped: number;
  posts: number;
  source: string;
  mismatches: Mismatch[];
  seconds: number;
}

async function servedByApi(apiUrl: string, posts: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const base = apiUrl.replace(/\/+$/, '');
  for (let i = 0; i < posts.length; i += MAX_POSTS_PER_READ) {
    const chunk = posts.slice(i, i + MAX_POSTS_PER_READ);
    const url = `${base}/v1/likes?posts=${chunk.map(encodeURIComponent).join(',')}`;
    const res = await fetch(url, { signal: AbortSignal.timeout(10000) });
    if (!res.ok) throw new Error(`GET ${url.slice(0, 120)}… answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const body = (await res.json()) as { posts?: Array<{ postId: string; count: number }> };
    if (!Array.isArray(body.posts)) throw new Error(`GET ${base}/v1/likes did not answer {posts: [...]}`);
    for (const p of body.posts) out.set(p.postId, p.count);
  }
  return out;
}

async function servedByRedis(redis: Redis, prefix: string, posts: string[]): Promise<Map<string, number>> {
  const reader = new LikesReader(redis, prefix);
  const out = new Map<string, number>();
  for (let i = 0; i < posts.length; i += MAX_POSTS_PER_READ) {
    for (const c of await reader.getMany(posts.slice(i, i + MAX_POSTS_PER_READ))) out.set(c.postId, c.count);
  }
  return out;
}

/**
 * Recounts from likes.events, independently of the stores and of Redis (decode every event, same
 * validity rules as the aggregator: a record it would dead-letter does not count), then compares
 * with the totals served. The recount covers the log up to the end offsets taken at the start; run
 * it when the system is quiet (or expect the posts that changed meanwhile to differ).
 */
export async function verify(deps: VerifyDeps): Promise<VerifyResult> {
  const started = Date.now();
  const ends = await topicOffsets(deps.kafka, deps.topic);
  if (ends.length === 0) throw new Error(`topic ${deps.topic} does not exist`);
  const recount = new LastActionOracle(deps.posts ? new Set(deps.posts) : undefined);
  let skipped = 0;
  const total = ends.reduce((n, e) => n + e.high - e.low, 0);
  const progress = new Progress({ label: `recount ${deps.topic}`, total, stream: deps.progressStream });
  try {
    await readRanges({
      kafka: deps.kafka,
      topic: deps.topic,
      ranges: ends.map((e) => ({ partition: e.partition, from: e.low, to: e.high })),
      concurrency: deps.concurrency,
      signal: deps.signal,
      onBatch: async (partition, records) => {
        for (const r of records) {
          try {
            // a registry failure is waited out (up to REGISTRY_PATIENCE_MS), never counted as skipped
            const event = await retryWhileRegistryUnavailable(() => deps.codec.decodeLike(r.value), {
              signal: deps.signal,
              giveUpAfterMs: REGISTRY_PATIENCE_MS,
            });
            const key = likeKey(event.postId, event.userId);
            if (r.key !== key || partitionForKey(key, ends.length) !== partition) skipped++;
            else recount.add(event);
          } catch (e) {
            if (!(e instanceof InvalidEventError)) throw e;
            skipped++;
          }
        }
        progress.add(records.length);
      },
    });
  } catch (e) {
    progress.abort();
    throw e;
  }
  progress.finish('recounted');
  const expected = recount.counts();
  const posts = [...expected.keys()];
  let source: string;
  let actual: Map<string, number>;
  if (deps.apiUrl) {
    source = `${deps.apiUrl.replace(/\/+$/, '')}/v1/likes`;
    actual = await servedByApi(deps.apiUrl, posts);
  } else {
    if (!deps.redis) throw new Error('verify needs --api-url or Redis');
    source = `redis ${deps.prefix}likes (served generation)`;
    actual = await servedByRedis(deps.redis, deps.prefix, posts);
  }
  const mismatches = diffCounts(expected, actual);
  return {
    ok: mismatches.length === 0,
    topic: deps.topic,
    upTo: Object.fromEntries(ends.map((e) => [String(e.partition), e.high])),
    events: recount.events,
    skipped,
    posts: posts.length,
    source,
    mismatches,
    seconds: (Date.now() - started) / 1000,
  };
}
