/**
 * npm run bench:rebalance [-- --json] — how long the partitions a member KEEPS stop when a second
 * member joins its group and when it leaves again, kafkajs (classic protocol, eager rebalance) against
 * @platformatic/kafka (KIP-848 consumer protocol, incremental), in one run (docs/adr/0019-kip848-consumer.md).
 *
 * Per client: a fresh topic of BENCH_PARTITIONS partitions gets a steady load on every partition
 * (BENCH_PER_TICK records per partition every 20 ms); member A (its own process, the built
 * libs/kafka member) owns everything; after a steady BENCH_STEADY_MS member B joins, reads its share
 * for BENCH_HOLD_MS, then leaves cleanly (SIGTERM: commit, leave). A's revoke hook takes
 * BENCH_REVOKE_MS (1000: a store closing). BENCH_ROUNDS (3) joins and leaves per client; the
 * medians are reported. Figures, from A's and B's batch timestamps:
 *   - steadyGapMs: the longest time a partition went without a batch before the join (the floor);
 *   - joinStallMs: the longest gap on a partition A keeps, from B's start until B reads all its
 *     partitions and A has released them;
 *   - leaveStallMs: the longest gap on A's partitions from B's SIGTERM until A reads every partition;
 *   - joinMoveMs / leaveMoveMs: until the moved partitions are read by their new owner;
 *   - joinReadyMs / joinAssignedMs: until B's process joined / was handed its partitions.
 * Writes bench/results/rebalance-<ts>.json; the JSON goes to stdout with --json (a summary otherwise).
 */
import { loadavg } from 'node:os';
import { loadSettings } from '@doubletap/config';
import {
  createKafka,
  deleteTopics,
  ensureTopics,
  KAFKA_CONSUMER_CLIENTS,
  type KafkaConsumerClient,
} from '@doubletap/kafka';
import { longestGap, MemberProcess, stackEnv, steadyProducer, uniqueName } from '@doubletap/testing';
import { intKnob, machine, writeResult } from './lib/common';

const PARTITIONS = intKnob('BENCH_PARTITIONS', 8);
const PER_TICK = intKnob('BENCH_PER_TICK', 5);
const STEADY_MS = intKnob('BENCH_STEADY_MS', 3000);
const HOLD_MS = intKnob('BENCH_HOLD_MS', 3000);
const REVOKE_MS = intKnob('BENCH_REVOKE_MS', 1000);
const ROUNDS = intKnob('BENCH_ROUNDS', 3);
const json = process.argv.includes('--json');
const log = (msg: string) => process.stderr.write(`bench:rebalance ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One join and leave of member B. */
interface Round {
  moved: number[];
  kept: number[];
  /** the longest gap on any partition in the steady seconds before the join (the floor) */
  steadyGapMs: number;
  /** B's process started and joined (its first assignment may still be empty) */
  joinReadyMs: number;
  /** B was handed its partitions (its assignment hook ran) */
  joinAssignedMs: number;
  joinStallMs: number;
  joinMoveMs: number;
  leaveStallMs: number;
  leaveMoveMs: number;
}

interface ClientResult {
  client: KafkaConsumerClient;
  protocol: 'classic (eager)' | 'consumer (KIP-848)';
  /** per figure, the median over the rounds */
  median: Omit<Round, 'moved' | 'kept'>;
  rounds: Round[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : Math.round((s[s.length / 2 - 1] + s[s.length / 2]) / 2);
}

async function round(
  client: KafkaConsumerClient,
  brokers: string[],
  group: string,
  topic: string,
  a: MemberProcess,
): Promise<Round> {
  const all = [...Array(PARTITIONS).keys()];
  await sleep(STEADY_MS);
  const joinAt = Date.now();
  const steadyGapMs = longestGap(a, all, joinAt - STEADY_MS, joinAt);
  log(`${client}: B joins`);
  const b = new MemberProcess({ client, brokers, group, topic, revokeDelayMs: REVOKE_MS });
  try {
    await b.until(
      'B reads its partitions',
      () => b.owned.length > 0 && b.owned.every((p) => b.batches(p).some((e) => e.t > joinAt)),
    );
    const moved = b.owned;
    await a.until('A released them', () => a.owned.length === PARTITIONS - moved.length);
    const kept = a.owned;
    const revokedAt = a.events
      .filter((e) => e.ev === 'assigned' && e.t > joinAt && (e.revoked?.length ?? 0) > 0)
      .map((e) => e.t);
    const bReads = Math.max(...moved.map((p) => b.batches(p).find((e) => e.t > joinAt)!.t));
    const joinSettled = Math.max(bReads, ...revokedAt) + 200;
    await sleep(Math.max(0, joinSettled - Date.now()));
    const joinStallMs = longestGap(a, kept, joinAt, joinSettled);
    const joinReadyMs = (b.events.find((e) => e.ev === 'ready')?.t ?? NaN) - joinAt;
    const joinAssignedMs =
      (b.events.find((e) => e.ev === 'assigned' && (e.added?.length ?? 0) > 0)?.t ?? NaN) - joinAt;

    await sleep(HOLD_MS);
    const leaveAt = Date.now();
    log(`${client}: B leaves`);
    const leaving = b.stop();
    await a.until(
      'A reads every partition again',
      () => a.owned.length === PARTITIONS && moved.every((p) => a.batches(p).some((e) => e.t > leaveAt)),
      60000,
    );
    await leaving;
    const aBack = Math.max(...moved.map((p) => a.batches(p).find((e) => e.t > leaveAt)!.t));
    const leaveSettled = aBack + 200;
    await sleep(Math.max(0, leaveSettled - Date.now()));
    return {
      moved,
      kept,
      steadyGapMs,
      joinReadyMs,
      joinAssignedMs,
      joinStallMs,
      joinMoveMs: bReads - joinAt,
      leaveStallMs: longestGap(a, kept, leaveAt, leaveSettled),
      leaveMoveMs: aBack - leaveAt,
    };
  } finally {
    await b.kill();
  }
}

async function run(client: KafkaConsumerClient, brokers: string[]): Promise<ClientResult> {
  const kafka = createKafka({ brokers, clientId: 'bench-rebalance' });
  const topic = uniqueName(`bench-rebalance-${client}`);
  const group = uniqueName('bench-rebalance');
  await ensureTopics(kafka, [{ topic, partitions: PARTITIONS, config: {} }]);
  const load = steadyProducer(kafka, topic, PARTITIONS, PER_TICK);
  const all = [...Array(PARTITIONS).keys()];
  const a = new MemberProcess({ client, brokers, group, topic, revokeDelayMs: REVOKE_MS });
  try {
    await a.until(
      'A owns every partition and reads',
      () => a.owned.length === PARTITIONS && all.every((p) => a.batches(p).length > 0),
    );
    const rounds: Round[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push(await round(client, brokers, group, topic, a));
    const figures = [
      'steadyGapMs',
      'joinReadyMs',
      'joinAssignedMs',
      'joinStallMs',
      'joinMoveMs',
      'leaveStallMs',
      'leaveMoveMs',
    ] as const;
    const med = Object.fromEntries(
      figures.map((f) => [f, median(rounds.map((r) => r[f]))]),
    ) as ClientResult['median'];
    return {
      client,
      protocol: client === 'platformatic' ? 'consumer (KIP-848)' : 'classic (eager)',
      median: med,
      rounds,
    };
  } finally {
    await a.kill();
    await load.stop();
    await deleteTopics(kafka, [topic]).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const settings = loadSettings(stackEnv());
  const at = new Date().toISOString();
  const results: ClientResult[] = [];
  for (const client of KAFKA_CONSUMER_CLIENTS) results.push(await run(client, settings.kafka.brokers));
  const doc = {
    at,
    machine: machine(),
    knobs: {
      partitions: PARTITIONS,
      perTick: PER_TICK,
      steadyMs: STEADY_MS,
      holdMs: HOLD_MS,
      revokeMs: REVOKE_MS,
      rounds: ROUNDS,
    },
    loadAverage: loadavg(),
    results,
  };
  const file = writeResult('rebalance', at, doc);
  if (json) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  else
    for (const { median: r, ...c } of results)
      process.stdout.write(
        `${c.client.padEnd(12)} ${c.protocol.padEnd(20)} (median of ${ROUNDS}) steady gap ${r.steadyGapMs} ms | join: kept partitions stall ${r.joinStallMs} ms, ` +
          `B joined after ${r.joinReadyMs} ms, assigned after ${r.joinAssignedMs} ms, moved read after ${r.joinMoveMs} ms | leave: kept stall ${r.leaveStallMs} ms, moved back after ${r.leaveMoveMs} ms\n`,
      );
  log(`wrote ${file}`);
}

main().catch((e: unknown) => {
  process.stderr.write(
    `bench:rebalance failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
  );
  process.exit(1);
});
