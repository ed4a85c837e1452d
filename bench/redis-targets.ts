// What a Redis Cluster costs the read side (ADR 0017), measured in ONE run against both targets:
// the local single Redis (stack.sh) and the local 3-master cluster (scripts/stack/redis-cluster.sh).
//   npx tsc -p tsconfig.build.json && node -r ./scripts/paths.js dist/bench/redis-targets.js [--json]
// Per target: LikesReader.getCount (1 post) and getMany (100 posts), sequential, N times each, and
// LikesProjection.applyBatch of 100 posts; prints median and p99 per call in microseconds.
import { performance } from 'node:perf_hooks';
import {
  createRedis,
  deleteKeysWithPrefix,
  LikesProjection,
  LikesReader,
  markReadSideComplete,
  redisReady,
} from '@doubletap/redis';
import { redisTargets, uniqueName } from '@doubletap/testing';

const N = Number(process.env.N ?? 2000);

function stats(samples: number[]): { medianUs: number; p99Us: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 1000);
  return { medianUs: at(0.5), p99Us: at(0.99) };
}

async function time(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < Math.min(100, n); i++) await fn(); // warm: scripts loaded, slot map known
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

async function main(): Promise<void> {
  const json = process.argv.includes('--json');
  const results: Record<string, Record<string, { medianUs: number; p99Us: number }>> = {};
  for (const target of redisTargets()) {
    const redis = createRedis({ url: target.url, name: 'bench-redis-targets', offlineQueue: true });
    await redisReady(redis, 10_000);
    const prefix = `${uniqueName('bench-rt')}:`;
    try {
      await markReadSideComplete(redis, prefix, 12);
      const projection = new LikesProjection(redis, prefix);
      const reader = new LikesReader(redis, prefix);
      const posts = Array.from({ length: 100 }, (_, i) => `p${i}`);
      let offset = 0;
      const batch = () =>
        projection.applyBatch(
          posts.map((postId, i) => ({ postId, partition: i % 12, count: offset, sourceOffset: offset++ })),
        );
      results[target.name] = {
        applyBatch100: stats(await time(Math.max(50, N / 10), batch)),
        getCount: stats(await time(N, () => reader.getCount('p7'))),
        getMany100: stats(await time(Math.max(50, N / 4), () => reader.getMany(posts))),
      };
    } finally {
      await deleteKeysWithPrefix(redis, prefix);
      await redis.quit();
    }
  }
  if (json) {
    console.log(JSON.stringify({ n: N, results }));
    return;
  }
  console.log(
    `call              ${Object.keys(results)
      .map((t) => `${t} median / p99 (µs)`.padEnd(30))
      .join('')}`,
  );
  for (const call of ['getCount', 'getMany100', 'applyBatch100']) {
    console.log(
      `${call.padEnd(18)}${Object.values(results)
        .map((r) => `${r[call].medianUs} / ${r[call].p99Us}`.padEnd(30))
        .join('')}`,
    );
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
