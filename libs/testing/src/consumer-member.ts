/**
 * One consumer-group member as its own process, for the consumer contract test
 * (libs/kafka/src/consumer-contract.e2e.test.ts, via consumer-members.ts) and bench/rebalance.ts. It prints one JSON line per
 * event on stdout: `ready`, `assigned` (the hook's start and end), `batch`, `health` (whenever its
 * readiness by consumer-health.ts changes: `notReady` says why, absent = ready) and `stopped`; SIGTERM
 * stops it cleanly (commit, leave), SIGKILL is a crash.
 *
 *   MEMBER_CLIENT=kafkajs|platformatic KAFKA_BROKERS=… MEMBER_GROUP=… MEMBER_TOPIC=…
 *   [MEMBER_REVOKE_DELAY_MS=0] (the revoke hook takes this long) [MEMBER_BATCH_DELAY_MS=0]
 *   [MEMBER_FAIL_BATCHES=0] (the handler throws on its first n batches, emitting `failed` for each)
 *   [MEMBER_MIN_BATCH_INTERVAL_MS=0] (the consumer's minBatchIntervalMs)
 *   node -r ./scripts/paths.js dist/libs/testing/src/consumer-member.js
 */
import { consumerNotReady, createBatchConsumer, createKafka, type KafkaConsumerClient } from '@doubletap/kafka';

const env = process.env;
const client = (env.MEMBER_CLIENT ?? 'kafkajs') as KafkaConsumerClient;
const brokers = (env.KAFKA_BROKERS ?? '127.0.0.1:19092').split(',');
const revokeDelay = Number(env.MEMBER_REVOKE_DELAY_MS ?? 0);
const batchDelay = Number(env.MEMBER_BATCH_DELAY_MS ?? 0);
const sessionTimeoutMs = Number(env.MEMBER_SESSION_MS ?? 6000);
let failures = Number(env.MEMBER_FAIL_BATCHES ?? 0);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ t: Date.now(), pid: process.pid, ...event })}\n`);
}

async function main(): Promise<void> {
  const kafka = createKafka({ brokers, clientId: `member-${process.pid}` });
  const consumer = createBatchConsumer(
    { kafka: { brokers, clientId: `member-${process.pid}`, consumerClient: client } },
    {
      kafka,
      groupId: env.MEMBER_GROUP ?? 'member',
      topic: env.MEMBER_TOPIC ?? 'member',
      fromBeginning: true,
      sessionTimeoutMs,
      maxBytesPerPartition: 64 * 1024,
      partitionsConsumedConcurrently: 4,
      minBatchIntervalMs: Number(env.MEMBER_MIN_BATCH_INTERVAL_MS ?? 0),
      handler: {
        onAssignment: async (a) => {
          emit({ ev: 'assign-start', ...a });
          if (a.revoked.length > 0 && revokeDelay > 0) await sleep(revokeDelay);
          emit({ ev: 'assigned', ...a });
        },
        handleBatch: async (partition, records) => {
          if (failures > 0) {
            failures--;
            emit({ ev: 'failed', p: partition, from: records[0].offset });
            throw new Error('the handler failed (MEMBER_FAIL_BATCHES)');
          }
          emit({
            ev: 'batch',
            p: partition,
            from: records[0].offset,
            to: records[records.length - 1].offset,
            n: records.length,
          });
          if (batchDelay > 0) await sleep(batchDelay);
        },
      },
    },
  );
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void consumer
      .stop()
      .then(() => emit({ ev: 'stopped' }))
      .finally(() => process.exit(0));
  });
  await consumer.start();
  emit({ ev: 'ready', client });
  // what /ready would say of this member (the apps ask the same function), at every change
  let said: string | undefined = '';
  setInterval(() => {
    const notReady = consumerNotReady(consumer.status(), { sessionTimeoutMs, silenceMaxMs: 0 });
    if (notReady !== said) emit({ ev: 'health', notReady });
    said = notReady;
  }, 250).unref();
}

main().catch((e: unknown) => {
  emit({ ev: 'error', error: e instanceof Error ? e.message : String(e) });
  process.exit(1);
});
