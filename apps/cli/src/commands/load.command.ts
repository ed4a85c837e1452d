import { cpus } from 'node:os';
import type { Command } from 'commander';
import { loadSettings } from '@doubletap/config';
import { pollingCountSource, renderReport, runLoad, type CountSource } from '@doubletap/loadgen';
import { createRedis, LikesReader, redisReady } from '@doubletap/redis';
import { output, run } from '../output';

interface LoadFlags {
  url?: string;
  rate: string;
  ramp?: string;
  duration: string;
  maxRequests?: string;
  users?: string;
  posts: string;
  zipf: string;
  doubleTap: string;
  unlike: string;
  connections: string;
  timeout: string;
  maxInFlight: string;
  sampleEvery: string;
  freshness: string;
  pollMs: string;
  check: boolean;
  checkWait: string;
  seed: string;
  runId?: string;
  read: string;
  cpuOf?: string;
  json?: boolean;
}

function num(name: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`${name} ${text} must be a number in [${min}, ${max}]`);
  return v;
}

/** `api=1234,aggregator=1240` → { api: 1234, aggregator: 1240 } */
function parsePids(text: string | undefined): Record<string, number> | undefined {
  if (!text) return undefined;
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^([A-Za-z0-9_-]+)=(\d+)$/.exec(part.trim());
    if (!m) throw new Error(`--cpu-of ${part} is not name=pid`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/** A rate the local machine can take: ~1,500 likes/s per core (the api, Kafka and the consumers share them). */
const defaultRate = () => Math.max(500, 1500 * cpus().length);

/**
 * `doubletap load viral|mixed`: open-loop load against the api on loopback, with the ground truth it
 * tracked checked against the read API at the end.
 */
export function registerLoad(program: Command): void {
  program
    .command('load')
    .description(
      'open-loop like/unlike load against the api (loopback only): accepted/s, errors, latency, freshness, final count check',
    )
    .argument('<scenario>', 'viral (one post ramps to --rate) or mixed (--posts posts, Zipf popularity)')
    .option('--url <url>', 'api base URL, loopback only (default http://127.0.0.1:$API_PORT)')
    .option('--rate <perSecond>', `target requests/s (default ${defaultRate()}: 1,500 per core)`, String(defaultRate()))
    .option('--ramp <seconds>', 'seconds from 0 to --rate (default: viral 20, mixed 0)')
    .option('--duration <seconds>', 'seconds at --rate after the ramp', '20')
    .option('--max-requests <n>', 'stop after this many requests (default: no limit beyond the profile)')
    .option('--users <n>', 'synthetic users, one minted token each (default: viral rate×(ramp/2+duration) capped at 100000, mixed 10000)')
    .option('--posts <n>', 'posts of the mixed scenario', '1000')
    .option('--zipf <s>', 'Zipf exponent of post popularity (mixed)', '1.1')
    .option('--double-tap <share>', 'share of requests that repeat the latest like (same user and post)', '0.1')
    .option('--unlike <share>', 'share of requests that unlike an earlier like', '0.05')
    .option('--connections <n>', 'keep-alive connections', '64')
    .option('--timeout <ms>', 'a request unanswered after this long is a timeout (outcome unknown)', '10000')
    .option('--max-in-flight <n>', 'requests waiting for an answer before due ones are dropped (and counted)', '20000')
    .option('--sample-every <n>', 'freshness sample on every n-th accepted like of the hot post', '100')
    .option('--freshness <how>', 'sse (the stream, polling when it is not served), poll, or off', 'sse')
    .option('--poll-ms <ms>', 'polling interval for freshness by polling', '20')
    .option('--no-check', 'skip the final ground-truth check')
    .option('--check-wait <ms>', 'how long the final check waits for the pipeline to catch up', '60000')
    .option('--seed <n>', 'seed of the workload (post and user choices)', '1')
    .option('--run-id <id>', 'prefix of the post ids (default: a fresh one, so counts start at 0)')
    .option('--read <where>', "where counts are read back: api (the read endpoints) or redis (development: LikesReader at REDIS_URL)", 'api')
    .option('--cpu-of <name=pid,...>', 'report the CPU per request of these processes too (e.g. api=1234; Linux /proc), next to the generator\'s own')
    .option('--json', 'print one JSON document (progress goes to stderr)')
    .action((scenario: string, opts: LoadFlags) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        if (scenario !== 'viral' && scenario !== 'mixed') throw new Error(`scenario ${scenario} is not viral or mixed`);
        if (!['sse', 'poll', 'off'].includes(opts.freshness)) throw new Error(`--freshness ${opts.freshness} is not sse, poll or off`);
        if (!['api', 'redis'].includes(opts.read)) throw new Error(`--read ${opts.read} is not api or redis`);
        const settings = loadSettings();
        const rate = num('--rate', opts.rate, 0.1, 1_000_000);
        const rampSeconds = num('--ramp', opts.ramp ?? (scenario === 'viral' ? '20' : '0'), 0, 3600);
        const holdSeconds = num('--duration', opts.duration, 0, 3600);
        const users =
          opts.users !== undefined
            ? num('--users', opts.users, 1, 1_000_000)
            : scenario === 'viral'
              ? Math.min(100_000, Math.max(1000, Math.ceil(rate * (rampSeconds / 2 + holdSeconds))))
              : 10_000;
        const runId = opts.runId ?? `lt${Date.now().toString(36)}`;
        if (!/^[A-Za-z0-9_-]{1,40}$/.test(runId)) throw new Error(`--run-id ${runId} must match ^[A-Za-z0-9_-]{1,40}$`);
        let countSource: CountSource | undefined;
        let redis: ReturnType<typeof createRedis> | undefined;
        if (opts.read === 'redis') {
          redis = createRedis({ url: settings.redis.url, name: 'doubletap-load' });
          await redisReady(redis);
          const reader = new LikesReader(redis, settings.redis.keyPrefix);
          countSource = pollingCountSource('redis', (ids) => reader.getMany(ids), num('--poll-ms', opts.pollMs, 1));
        }
        try {
          const report = await runLoad({
            scenario,
            url: opts.url ?? `http://127.0.0.1:${settings.api.port}`,
            rate,
            rampSeconds,
            holdSeconds,
            maxRequests: opts.maxRequests ? num('--max-requests', opts.maxRequests, 1) : Number.MAX_SAFE_INTEGER,
            users,
            posts: num('--posts', opts.posts, 1, 1_000_000),
            zipf: num('--zipf', opts.zipf, 0, 10),
            doubleTap: num('--double-tap', opts.doubleTap, 0, 1),
            unlike: num('--unlike', opts.unlike, 0, 1),
            connections: num('--connections', opts.connections, 1, 10_000),
            timeoutMs: num('--timeout', opts.timeout, 1),
            maxInFlight: num('--max-in-flight', opts.maxInFlight, 1),
            sampleEvery: num('--sample-every', opts.sampleEvery, 1),
            freshness: opts.freshness as 'sse' | 'poll' | 'off',
            pollMs: num('--poll-ms', opts.pollMs, 1),
            check: opts.check,
            checkWaitMs: num('--check-wait', opts.checkWait, 0),
            seed: num('--seed', opts.seed, 0),
            runId,
            auth: { secret: settings.auth.hs256Secret, issuer: settings.auth.issuer, audience: settings.auth.audience },
            countSource,
            watchPids: parsePids(opts.cpuOf),
            log: (line) => out.info(line),
          });
          out.result(report, () => renderReport(report));
          return report.check && !report.check.ok ? 2 : 0;
        } finally {
          await redis?.quit();
        }
      }),
    );
}
