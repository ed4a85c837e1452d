import type { Command } from 'commander';
import { loadSettings } from '@doubletap/config';
import { EventCodec, ID_PATTERN, RECOUNT_UNKNOWN_ID_POLICY } from '@doubletap/events';
import { createKafka } from '@doubletap/kafka';
import { createRedis, redisReady, type Redis } from '@doubletap/redis';
import { verify } from '../ops/verify';
import { output, run } from '../output';

interface VerifyOptions {
  posts?: string;
  apiUrl?: string;
  json?: boolean;
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description(
      'recount every post from likes.events (independently of the stores and Redis) and compare with the totals served; exit 1 on any mismatch',
    )
    .option('--posts <ids>', 'comma-separated post ids to check (default: every post in the log)')
    .option('--api-url <url>', 'compare with the read API (GET <url>/v1/likes?posts=, 100 per call) instead of Redis')
    .option('--json', 'print one JSON document: {ok, mismatches: [{postId, expected, actual}], ...}')
    .addHelpText(
      'after',
      `
The recount covers likes.events up to the end offsets taken when it starts; posts liked or unliked
while it runs can differ until the pipeline catches up: verify a quiet system, or rerun.
Exit codes: 0 all match, 1 a mismatch (each listed) or an error.`,
    )
    .action((opts: VerifyOptions) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const posts = opts.posts?.split(',').map((s) => s.trim());
        const bad = posts?.find((p) => !ID_PATTERN.test(p));
        if (bad !== undefined) throw new Error(`--posts: ${JSON.stringify(bad)} does not match ^[A-Za-z0-9_-]{1,64}$`);
        if (opts.apiUrl && !/^https?:\/\/[^/]+/.test(opts.apiUrl)) throw new Error(`--api-url ${opts.apiUrl} is not an http(s) URL`);
        const settings = loadSettings();
        const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'doubletap-verify' });
        const codec = new EventCodec(settings.registry.url, settings.topics, { unknownSchemaIds: RECOUNT_UNKNOWN_ID_POLICY });
        await codec.init();
        let redis: Redis | undefined;
        if (!opts.apiUrl) {
          redis = createRedis({ url: settings.redis.url, name: 'doubletap-verify', offlineQueue: true, commandTimeoutMs: 10000 });
          await redisReady(redis);
        }
        const controller = new AbortController();
        const onSigint = () => controller.abort();
        process.once('SIGINT', onSigint);
        try {
          const result = await verify({
            kafka,
            codec,
            topic: settings.topics.events,
            posts,
            apiUrl: opts.apiUrl,
            redis,
            prefix: settings.redis.keyPrefix,
            signal: controller.signal,
          });
          out.result(result, () =>
            [
              `${result.ok ? 'OK' : 'MISMATCH'}: ${result.posts} posts recounted from ${result.events} events of ${result.topic} (${result.skipped} skipped as the aggregator would dead-letter them), compared with ${result.source}`,
              ...(result.mismatches.length > 0
                ? [`  ${'POST'.padEnd(24)} ${'EXPECTED'.padStart(9)} ${'ACTUAL'.padStart(9)}`]
                : []),
              ...result.mismatches.map((m) => `  ${m.postId.padEnd(24)} ${String(m.expected).padStart(9)} ${String(m.actual).padStart(9)}`),
            ].join('\n'),
          );
          return result.ok ? 0 : 1;
        } finally {
          process.off('SIGINT', onSigint);
          if (redis) await redis.quit().catch(() => undefined);
        }
      }),
    );
}
