import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Aggregator, createAggregatorMetrics, KafkaChangelog, type AggregatorTopics } from '@doubletap/aggregation';
import type { EventCodec } from '@doubletap/events';
import {
  BatchConsumer,
  createOffsetsReader,
  TopicIdentityReader,
  topicOffsets,
  type Assignment,
  type BatchContext,
  type ConsumedRecord,
  type Kafka,
} from '@doubletap/kafka';
import { createMetricsRegistry, type Logger } from '@doubletap/observability';
import { PartitionStore, storePath } from '@doubletap/store';
import { Progress } from '../progress';
import type { RangePlan } from './read-side-rebuild';

export interface StateDeps {
  kafka: Kafka;
  /** bootstrap brokers (the input topic's identity is read with its own client) */
  brokers: string[];
  /** the pinned partition count of the input topic (TOPIC_PARTITIONS) */
  pinnedPartitions: number;
  /** the aggregators' store changelog: rewritten from the rebuilt stores */
  changelogTopic?: string;
  codec: EventCodec;
  topics: AggregatorTopics;
  /** the aggregators' consumer group: the rebuild refuses while it has live members */
  groupId: string;
  dataDir: string;
  /** partitions to rebuild (default: all) */
  partitions?: number[];
  /** delete the replaced stores after success instead of keeping them aside */
  discardOld?: boolean;
  logger: Logger;
  info(line: string): void;
  signal?: AbortSignal;
  concurrency?: number;
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
}

/** `<dataDir>/rebuild-state.json`: partitions whose rebuild started and has not finished (the resume marker). */
interface Marker {
  startedAt: string;
  partitions: number[];
  aside?: string;
}

export interface StatePartitionPlan extends RangePlan {
  /** fresh: the store is moved aside and replayed from the earliest offset; resume: continues after its meta/offset */
  mode: 'fresh' | 'resume';
  /** an existing store that a fresh rebuild moves aside */
  existingStore: boolean;
}

export interface StatePlan {
  target: 'state';
  topic: string;
  group: { groupId: string; members: number; state: string };
  /** why the rebuild would refuse to run, if it would */
  refused?: string;
  dataDir: string;
  read: StatePartitionPlan[];
  records: number;
  writes: string;
}

export interface StatePartitionResult {
  partition: number;
  mode: 'fresh' | 'resume';
  records: number;
  storedOffset: number | null;
  posts: number;
  likes: number;
}

export interface StateResult {
  target: 'state';
  topic: string;
  dataDir: string;
  partitions: StatePartitionResult[];
  /** where the replaced stores were moved (null when discarded or none existed) */
  replacedStoresAt: string | null;
  records: number;
  seconds: number;
  recordsPerSecond: number;
}

const markerPath = (dataDir: string) => join(dataDir, 'rebuild-state.json');

async function readMarker(dataDir: string): Promise<Marker | undefined> {
  try {
    return JSON.parse(await readFile(markerPath(dataDir), 'utf8')) as Marker;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${markerPath(dataDir)} is unreadable (${e instanceof Error ? e.message : String(e)}); remove it to start over`);
  }
}

async function storedOffset(dataDir: string, partition: number): Promise<number | undefined> {
  if (!existsSync(storePath(dataDir, partition))) return undefined;
  const store = await PartitionStore.open(dataDir, partition);
  try {
    return store.lastOffset();
  } finally {
    await store.close();
  }
}

async function groupStatus(deps: StateDeps) {
  const reader = createOffsetsReader(deps.kafka);
  await reader.connect();
  try {
    const g = await reader.groupOffsets(deps.groupId, deps.topics.events);
    const refused =
      g.members > 0
        ? `refusing to rebuild the aggregator state: consumer group ${deps.groupId} has ${g.members} live member(s) (state ${g.state}); stop every aggregator first, their stores are in use and they consume the same partitions`
        : undefined;
    return { groupId: deps.groupId, members: g.members, state: g.state, refused };
  } finally {
    await reader.close();
  }
}

export async function planState(deps: StateDeps): Promise<StatePlan & { marker?: Marker }> {
  const ends = await topicOffsets(deps.kafka, deps.topics.events);
  if (ends.length === 0) throw new Error(`topic ${deps.topics.events} does not exist (run \`doubletap topics setup\`)`);
  const chosen = deps.partitions ?? ends.map((e) => e.partition);
  const bad = chosen.filter((p) => !ends.some((e) => e.partition === p));
  if (bad.length > 0) throw new Error(`--partitions ${bad.join(',')}: ${deps.topics.events} has partitions 0-${ends.length - 1}`);
  const group = await groupStatus(deps);
  const marker = await readMarker(deps.dataDir);
  const read: StatePartitionPlan[] = [];
  for (const p of chosen) {
    const e = ends.find((x) => x.partition === p)!;
    const resume = marker?.partitions.includes(p) ?? false;
    const stored = resume && !group.refused ? await storedOffset(deps.dataDir, p) : undefined;
    const from = stored === undefined ? e.low : Math.min(e.high, stored + 1);
    read.push({
      partition: p,
      from,
      to: e.high,
      records: e.high - from,
      mode: resume ? 'resume' : 'fresh',
      existingStore: existsSync(storePath(deps.dataDir, p)),
    });
  }
  return {
    target: 'state',
    topic: deps.topics.events,
    group: { groupId: group.groupId, members: group.members, state: group.state },
    refused: group.refused,
    dataDir: deps.dataDir,
    read,
    records: read.reduce((n, r) => n + r.records, 0),
    writes: `stores ${deps.dataDir}/p-<p> (existing ones ${deps.discardOld ? 'deleted' : 'moved aside'}), CountChanged of every post to ${deps.topics.counts}`,
    marker,
  };
}

/** Hands the aggregator only the chosen partitions of the throw-away group's assignment; pauses the rest. */
class ChosenPartitions {
  constructor(
    private readonly aggregator: Aggregator,
    private readonly chosen: ReadonlySet<number>,
    private readonly consumer: () => BatchConsumer,
  ) {}

  async onAssignment(a: Assignment): Promise<void> {
    const keep = (list: number[]) => list.filter((p) => this.chosen.has(p));
    this.consumer().pause(a.partitions.filter((p) => !this.chosen.has(p)));
    await this.aggregator.onAssignment({ ...a, partitions: keep(a.partitions), added: keep(a.added), revoked: keep(a.revoked) });
  }

  handleBatch(partition: number, records: ConsumedRecord[], ctx: BatchContext): Promise<void> {
    return this.aggregator.handleBatch(partition, records, ctx);
  }
}

/**
 * Rebuilds aggregator stores from likes.events with the aggregator's own code (libs/aggregation):
 * refuses while the aggregator group has live members; moves the chosen partitions' stores aside
 * (an empty store catches up from the earliest offset by the aggregator logic), runs an Aggregator
 * in this process on a throw-away consumer group (with the aggregators' transactional ids, so it
 * fences any aggregator still holding a partition) until every chosen partition reached the log end
 * taken at the start, and lets it publish the CountChanged of every post it touched (stamped with
 * the partition's final offset, so they supersede what the replaced store published). Interrupted?
 * The marker file names the partitions in progress; the next run resumes them after their
 * meta/offset instead of moving them aside again.
 */
export async function rebuildState(deps: StateDeps): Promise<StateResult> {
  const started = Date.now();
  const plan = await planState(deps);
  if (plan.refused) throw new Error(plan.refused);
  await mkdir(deps.dataDir, { recursive: true });
  const fresh = plan.read.filter((r) => r.mode === 'fresh');
  let aside: string | null = plan.marker?.aside ?? null;
  const markerPartitions = new Set([...(plan.marker?.partitions ?? []), ...plan.read.map((r) => r.partition)]);
  // the marker first: from here on, an interruption leaves "resume these" behind
  const writeMarker = (partitions: Set<number>) =>
    writeFile(
      markerPath(deps.dataDir),
      JSON.stringify({ startedAt: plan.marker?.startedAt ?? new Date().toISOString(), partitions: [...partitions].sort((a, b) => a - b), aside }),
    );
  if (fresh.some((r) => r.existingStore) && !deps.discardOld) {
    aside ??= join(deps.dataDir, `replaced-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    await mkdir(aside, { recursive: true });
  }
  await writeMarker(markerPartitions);
  for (const r of fresh) {
    if (!r.existingStore) continue;
    const path = storePath(deps.dataDir, r.partition);
    if (deps.discardOld) await rm(path, { recursive: true, force: true });
    else await rename(path, join(aside!, `p-${r.partition}`));
  }
  if (fresh.length > 0) deps.info(`replaying partitions ${fresh.map((r) => r.partition).join(',')} of ${deps.topics.events} from the earliest offset`);
  const resumed = plan.read.filter((r) => r.mode === 'resume');
  if (resumed.length > 0) deps.info(`resuming partitions ${resumed.map((r) => r.partition).join(',')} after their stored offsets`);

  const identity = new TopicIdentityReader(deps.brokers, 'doubletap-rebuild');
  // the aggregators' transactional ids: the rebuild fences any aggregator that still held a partition
  const aggregator = new Aggregator({
    topics: deps.topics,
    partitions: deps.pinnedPartitions,
    dataDir: deps.dataDir,
    codec: deps.codec,
    kafka: deps.kafka,
    transactionalIdPrefix: deps.groupId,
    input: { offsets: () => topicOffsets(deps.kafka, deps.topics.events), identity: () => identity.describe(deps.topics.events) },
    // recomputed from the log, never restored: the changelog is rewritten from the rebuilt stores
    ...(deps.changelogTopic ? { changelog: { io: new KafkaChangelog(deps.kafka, deps.changelogTopic, deps.logger), topic: deps.changelogTopic }, rebuild: true } : {}),
    logger: deps.logger,
    metrics: createAggregatorMetrics(createMetricsRegistry('rebuild')),
  });
  const chosen = new Set(plan.read.map((r) => r.partition));
  const groupId = `doubletap-rebuild-state-${process.pid}-${Date.now().toString(36)}`;
  const consumer: BatchConsumer = new BatchConsumer({
    kafka: deps.kafka,
    groupId,
    topic: deps.topics.events,
    handler: new ChosenPartitions(aggregator, chosen, () => consumer),
    logger: deps.logger,
    fromBeginning: true,
    maxBytesPerPartition: 4 * 1048576,
    partitionsConsumedConcurrently: deps.concurrency ?? Math.min(4, chosen.size),
  });
  aggregator.attach(consumer);
  const total = plan.records;
  const progress = new Progress({ label: `rebuild state (${chosen.size} partitions)`, total, stream: deps.progressStream });
  const targets = new Map(plan.read.map((r) => [r.partition, r]));
  let finished = false;
  try {
    await consumer.start();
    for (;;) {
      if (deps.signal?.aborted) throw new Error('interrupted');
      if (aggregator.fatalError) throw aggregator.fatalError;
      if (consumer.lastCrash) throw new Error(`consumer crashed: ${consumer.lastCrash.message}`);
      const stopped = aggregator.stoppedPartitions;
      if (stopped.length > 0) throw new Error(stopped.map((s) => `partition ${s.partition}: ${s.reason}`).join('; '));
      let done = 0;
      let complete = true;
      for (const [p, r] of targets) {
        const status = await aggregator.partitionStatus(p);
        const stored = status?.storedOffset ?? null;
        done += stored === null ? 0 : Math.min(r.records, Math.max(0, stored - r.from + 1));
        const reached = r.to === r.from || (stored !== null && stored >= r.to - 1);
        if (!status || status.phase !== 'live' || !reached) complete = false;
      }
      progress.set(done);
      if (complete) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    finished = true;
  } catch (e) {
    progress.abort();
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`state rebuild stopped (${why}); rerun the same command to resume after the stored offsets`);
  } finally {
    await consumer.stop().catch(() => undefined);
    await aggregator.close().catch(() => undefined); // closes the producers and the stores
    await identity.close();
    const admin = deps.kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => undefined)
      .finally(() => admin.disconnect());
  }
  const summary = progress.finish(finished ? 'stores rebuilt' : 'stopped');

  const results: StatePartitionResult[] = [];
  for (const r of plan.read) {
    const store = await PartitionStore.open(deps.dataDir, r.partition);
    try {
      const counts = await store.allCounts();
      let likes = 0;
      let posts = 0;
      for (const c of counts.values()) {
        likes += c;
        if (c > 0) posts++;
      }
      results.push({ partition: r.partition, mode: r.mode, records: r.records, storedOffset: store.lastOffset() ?? null, posts, likes });
    } finally {
      await store.close();
    }
  }
  for (const p of chosen) markerPartitions.delete(p);
  if (markerPartitions.size === 0) await rm(markerPath(deps.dataDir), { force: true });
  else await writeMarker(markerPartitions);
  return {
    target: 'state',
    topic: deps.topics.events,
    dataDir: deps.dataDir,
    partitions: results,
    replacedStoresAt: deps.discardOld ? null : aside,
    records: summary.records,
    seconds: (Date.now() - started) / 1000,
    recordsPerSecond: summary.recordsPerSecond,
  };
}
