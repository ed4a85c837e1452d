import { InvalidEventError, retryWhileRegistryUnavailable, type EventCodec } from '@doubletap/events';
import { offsetsForTime, readRanges, topicOffsets, type ConsumedRecord, type Kafka, type PartitionOffsets, type ReadRange } from '@doubletap/kafka';
import { generationPointerKey, GenerationWriter, LikesProjection, ReadSideGenerations, type CountChange, type Redis } from '@doubletap/redis';
import { Progress } from '../progress';

export interface ReadSideDeps {
  kafka: Kafka;
  codec: EventCodec;
  redis: Redis;
  prefix: string;
  /** likes.counts */
  topic: string;
  info(line: string): void;
  /** ms to wait after the switch before the old generation's keys are deleted (reads in flight finish) */
  graceMs?: number;
  /** partitions of likes.counts read in parallel */
  concurrency?: number;
  signal?: AbortSignal;
  /** progress options (tests and the bench pass a silent stream) */
  progressStream?: NodeJS.WritableStream & { isTTY?: boolean };
}

export interface RangePlan {
  partition: number;
  from: number;
  to: number;
  records: number;
}

export interface ReadSidePlan {
  target: 'read-side';
  topic: string;
  currentGeneration: number;
  /** the generation that would be (or is being) built */
  buildGeneration: number;
  /** an interrupted rebuild of buildGeneration would be resumed from its checkpoint */
  resume: boolean;
  read: RangePlan[];
  records: number;
  /** post hashes served now (deleted after the switch) */
  currentKeys: number;
  writes: string;
}

export interface ReadSideResult {
  target: 'read-side';
  topic: string;
  from: { generation: number; keys: number };
  to: { generation: number; keys: number };
  resumed: boolean;
  records: number;
  /** records that changed the new generation */
  applied: number;
  invalid: number;
  /** records appended (and applied by the live projector) between the first end and the switch */
  catchUp: { records: number; applied: number };
  oldKeysDeleted: number;
  seconds: number;
  recordsPerSecond: number;
}

async function plan(deps: ReadSideDeps, gens: ReadSideGenerations) {
  const current = await gens.current();
  const building = await gens.building();
  const checkpoint = await gens.loadCheckpoint();
  const buildGeneration = building ?? current + 1;
  const resume = building !== undefined && checkpoint?.generation === building;
  const ends = await topicOffsets(deps.kafka, deps.topic);
  if (ends.length === 0) throw new Error(`topic ${deps.topic} does not exist (run \`doubletap topics setup\`)`);
  const read = ends.map((e) => {
    const from = resume ? Math.max(e.low, Math.min(e.high, checkpoint.offsets.get(e.partition) ?? e.low)) : e.low;
    return { partition: e.partition, from, to: e.high, records: e.high - from };
  });
  return { current, building, buildGeneration, resume, checkpoint, ends, read };
}

export async function planReadSide(deps: ReadSideDeps): Promise<ReadSidePlan> {
  const gens = new ReadSideGenerations(deps.redis, deps.prefix);
  const p = await plan(deps, gens);
  return {
    target: 'read-side',
    topic: deps.topic,
    currentGeneration: p.current,
    buildGeneration: p.buildGeneration,
    resume: p.resume,
    read: p.read,
    records: p.read.reduce((n, r) => n + r.records, 0),
    currentKeys: await gens.countKeys(p.current),
    writes: `Redis generation ${p.buildGeneration} (${deps.prefix}likes:g${p.buildGeneration}:{<postId>}), then the pointer ${generationPointerKey(deps.prefix)} := ${p.buildGeneration}, then generation ${p.current}'s keys are deleted`,
  };
}

/**
 * How long a rebuild waits for an unavailable schema registry before it fails (never skipping the
 * record). Short: the wait blocks a batch of the range reader, whose group session is 10 s, and
 * one decode attempt can itself take a request timeout (3 s); rerun the command once it is back.
 */
const REGISTRY_PATIENCE_MS = 4_000;

/** Decodes CountChanged records; tombstones are skipped, undecodable ones counted. */
async function decodeAll(codec: EventCodec, records: ConsumedRecord[]): Promise<{ changes: CountChange[]; invalid: number }> {
  const changes: CountChange[] = [];
  let invalid = 0;
  for (const r of records) {
    if (r.value === null) continue;
    try {
      // a registry failure is waited out (up to REGISTRY_PATIENCE_MS), never counted as invalid
      const value = r.value;
      changes.push(
        await retryWhileRegistryUnavailable(() => codec.decodeCount(value), { giveUpAfterMs: REGISTRY_PATIENCE_MS }),
      );
    } catch (e) {
      if (!(e instanceof InvalidEventError)) throw e;
      invalid++;
    }
  }
  return { changes, invalid };
}

/**
 * Zero-downtime rebuild of the Redis read side from the compacted likes.counts:
 *  1. announce generation g+1 as being built (from now on the live projector dual-writes into it);
 *  2. read likes.counts from the earliest offset to the log end taken after 1., applying every record
 *     into g+1 (no PUBLISH; checkpointed in Redis, so an interrupted run resumes);
 *  3. switch the pointer to g+1 atomically (readers and the projector resolve it inside their scripts);
 *  4. catch up on what was appended since 2.'s end (through the live projection: it publishes if
 *     that changes anything, e.g. when the projector is down);
 *  5. after a grace period, delete generation g (SCAN + UNLINK).
 * Readers see generation g, complete, until the switch, then g+1, which by then knows every record
 * g knows (2. covers everything before the announcement, the dual write everything after).
 */
export async function rebuildReadSide(deps: ReadSideDeps): Promise<ReadSideResult> {
  const started = Date.now();
  const gens = new ReadSideGenerations(deps.redis, deps.prefix);
  let p = await plan(deps, gens);
  const target = p.buildGeneration;
  if (p.building === undefined) {
    const leftovers = await gens.deleteGeneration(target);
    if (leftovers > 0) deps.info(`removed ${leftovers} leftover keys of generation ${target}`);
    await gens.beginBuild(target);
    p = await plan(deps, gens); // the log end AFTER the announcement: everything before it gets read
  } else {
    deps.info(
      p.resume
        ? `resuming the interrupted rebuild of generation ${target} from its checkpoint`
        : `continuing the interrupted rebuild of generation ${target} from the earliest offset`,
    );
  }
  const writer = new GenerationWriter(deps.redis, deps.prefix, target);
  const next = new Map(p.read.map((r) => [r.partition, r.from]));
  const total = p.read.reduce((n, r) => n + r.records, 0);
  const progress = new Progress({ label: `rebuild read-side → generation ${target}`, total, stream: deps.progressStream });
  let applied = 0;
  let invalid = 0;
  let lastCheckpoint = Date.now();
  const checkpoint = () => gens.saveCheckpoint({ generation: target, startedAt: started, offsets: next });
  try {
    await readRanges({
      kafka: deps.kafka,
      topic: deps.topic,
      ranges: p.read,
      concurrency: deps.concurrency,
      signal: deps.signal,
      onBatch: async (partition, records) => {
        const decoded = await decodeAll(deps.codec, records);
        invalid += decoded.invalid;
        if (decoded.changes.length > 0) applied += (await writer.applyBatch(decoded.changes)).applied;
        next.set(partition, records[records.length - 1].offset + 1);
        progress.add(records.length);
        if (Date.now() - lastCheckpoint > 2000) {
          lastCheckpoint = Date.now();
          await checkpoint();
        }
      },
    });
  } catch (e) {
    progress.abort();
    await checkpoint().catch(() => undefined);
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`read-side rebuild of generation ${target} stopped (${why}); rerun the same command to resume from its checkpoint`);
  }
  const built = progress.finish('generation built');

  await gens.switchTo(p.current, target);
  deps.info(`switched ${generationPointerKey(deps.prefix)} ${p.current} → ${target}`);
  await gens.clearCheckpoint();

  const ends2 = await topicOffsets(deps.kafka, deps.topic);
  const catchUpRanges: ReadRange[] = ends2.map((e: PartitionOffsets) => ({
    partition: e.partition,
    from: p.read.find((r) => r.partition === e.partition)?.to ?? e.low,
    to: e.high,
  }));
  const live = new LikesProjection(deps.redis, deps.prefix);
  const catchUp = { records: 0, applied: 0 };
  await readRanges({
    kafka: deps.kafka,
    topic: deps.topic,
    ranges: catchUpRanges,
    concurrency: deps.concurrency,
    onBatch: async (_partition, records) => {
      const decoded = await decodeAll(deps.codec, records);
      catchUp.records += records.length;
      if (decoded.changes.length > 0) catchUp.applied += (await live.applyBatch(decoded.changes)).applied;
    },
  });

  const graceMs = deps.graceMs ?? 2000;
  if (graceMs > 0) await new Promise((r) => setTimeout(r, graceMs));
  const oldKeysDeleted = await gens.deleteGeneration(p.current);
  const seconds = (Date.now() - started) / 1000;
  return {
    target: 'read-side',
    topic: deps.topic,
    from: { generation: p.current, keys: oldKeysDeleted },
    to: { generation: target, keys: await gens.countKeys(target) },
    resumed: p.resume,
    records: built.records,
    applied,
    invalid,
    catchUp,
    oldKeysDeleted,
    seconds,
    recordsPerSecond: built.recordsPerSecond,
  };
}

export interface ReplayResult {
  target: 'read-side';
  mode: 'replay';
  topic: string;
  from: string;
  generation: number;
  read: RangePlan[];
  records: number;
  applied: number;
  invalid: number;
  seconds: number;
  recordsPerSecond: number;
}

/**
 * `--from <time>` for the read side: an in-place catch-up of the SERVED generation from the first
 * likes.counts offset at/after the time, through the live (guarded, publishing) projection. For a
 * Redis restored from a snapshot taken after that time: the guard skips what the snapshot already
 * has, totals only move forward. Not a rebuild: posts whose last record is older than the time are
 * not touched (a full rebuild must start from the earliest offset of the compacted topic).
 */
export async function replayReadSide(deps: ReadSideDeps, from: Date, dryRun: boolean): Promise<ReplayResult> {
  const started = Date.now();
  const gens = new ReadSideGenerations(deps.redis, deps.prefix);
  const generation = await gens.current();
  const [starts, ends] = await Promise.all([offsetsForTime(deps.kafka, deps.topic, from.getTime()), topicOffsets(deps.kafka, deps.topic)]);
  if (ends.length === 0) throw new Error(`topic ${deps.topic} does not exist`);
  const read = ends.map((e) => {
    const start = Math.max(e.low, starts.find((s) => s.partition === e.partition)?.offset ?? e.high);
    return { partition: e.partition, from: start, to: e.high, records: Math.max(0, e.high - start) };
  });
  const total = read.reduce((n, r) => n + r.records, 0);
  const result: ReplayResult = {
    target: 'read-side',
    mode: 'replay',
    topic: deps.topic,
    from: from.toISOString(),
    generation,
    read,
    records: total,
    applied: 0,
    invalid: 0,
    seconds: 0,
    recordsPerSecond: 0,
  };
  if (dryRun) return result;
  const live = new LikesProjection(deps.redis, deps.prefix);
  const progress = new Progress({ label: `replay ${deps.topic} since ${result.from}`, total, stream: deps.progressStream });
  try {
    await readRanges({
      kafka: deps.kafka,
      topic: deps.topic,
      ranges: read,
      concurrency: deps.concurrency,
      signal: deps.signal,
      onBatch: async (_p, records) => {
        const decoded = await decodeAll(deps.codec, records);
        result.invalid += decoded.invalid;
        if (decoded.changes.length > 0) result.applied += (await live.applyBatch(decoded.changes)).applied;
        progress.add(records.length);
      },
    });
  } catch (e) {
    progress.abort();
    throw e;
  }
  const summary = progress.finish('replayed');
  result.seconds = (Date.now() - started) / 1000;
  result.recordsPerSecond = summary.recordsPerSecond;
  return result;
}
