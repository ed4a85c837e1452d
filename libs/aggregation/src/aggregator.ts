import { applyBatch, countKey, EventCodec, InvalidEventError, likeKey, type LikeEvent } from '@doubletap/events';
import {
  partitionForKey,
  type Assignment,
  type BatchContext,
  type BatchHandler,
  type ConsumedRecord,
  type PartitionOffsets,
  type Producer,
} from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { PartitionStore, type OutboxEntry } from '@doubletap/store';
import type { AggregatorMetrics } from './metrics';

export interface AggregatorTopics {
  events: string;
  counts: string;
  deadLetter: string;
}

/** The consumer's controls the aggregator needs (BatchConsumer implements it). */
export interface PartitionSeeker {
  seek(partition: number, offset: number): void;
}

/** Where the aggregator announces which partitions it owns (Redis owners map in production). */
export interface OwnershipRegistry {
  publish(partitions: number[], owner: { memberId: string; generation: number }): Promise<void>;
  withdraw(partitions: number[], owner: { memberId: string }): Promise<void>;
}

export interface AggregatorDeps {
  topics: AggregatorTopics;
  /** partition count of the input topic (events on the wrong partition are dead-lettered) */
  partitions: number;
  dataDir: string;
  codec: EventCodec;
  producer: Producer;
  offsets: () => Promise<PartitionOffsets[]>;
  logger: Logger;
  metrics: AggregatorMetrics;
  ownership?: OwnershipRegistry;
  /** a failure the process cannot continue from (a store that cannot be opened) */
  onFatal?: (error: Error) => void;
  /** CountChanged records per produce request */
  sendChunk?: number;
  /** ms between restore progress log lines */
  progressEveryMs?: number;
  /** fault injection for crash tests: called after each atomic store write, before CountChanged is sent */
  afterCommit?: (partition: number, commits: number) => void;
}

interface Restore {
  /** first offset of the log when the restore began */
  from: number;
  /** the log end at assignment: the restore is done once the store reached target - 1 */
  target: number;
  startedAt: number;
  lastLogAt: number;
}

interface PartitionState {
  partition: number;
  store: PartitionStore;
  /** log start offset (where a store without meta/offset begins) */
  logStart: number;
  restore?: Restore;
  /** serializes batches, outbox flushes and close of this partition */
  chain: Promise<unknown>;
  closing: boolean;
  /** a CountChanged send failed: the outbox holds entries to send before the next batch */
  outboxDirty: boolean;
}

export type LikeQuery =
  | { kind: 'ok'; liked: boolean; asOfOffset: number | null }
  | { kind: 'not-owner' }
  | { kind: 'restoring'; progress: number }
  | { kind: 'wrong-partition'; expected: number };

export type DeadLetterReason = 'undecodable' | 'invalid' | 'wrong-partition';

const DEAD_LETTER_HEADERS = ['reason', 'detail', 'source-topic', 'source-partition', 'source-offset'] as const;
export { DEAD_LETTER_HEADERS };

/**
 * The stateful aggregator of one process: a BatchHandler that owns one PartitionStore per assigned
 * input partition and applies each batch exactly once (the input offset lives in the store, written
 * atomically with the state and the outbox), then publishes absolute partial counts.
 */
export class Aggregator implements BatchHandler {
  private readonly parts = new Map<number, PartitionState>();
  private seeker?: PartitionSeeker;
  private member?: { memberId: string; generation: number };
  private assignedOnce = false;
  private fatal?: Error;
  private commits = 0;

  constructor(private readonly deps: AggregatorDeps) {}

  /** The consumer is created after the handler: connect them before start. */
  attach(seeker: PartitionSeeker): void {
    this.seeker = seeker;
  }

  get ownedPartitions(): number[] {
    return [...this.parts.keys()].sort((a, b) => a - b);
  }

  get restoringPartitions(): number[] {
    return [...this.parts.values()].filter((s) => s.restore).map((s) => s.partition);
  }

  get hasAssignment(): boolean {
    return this.assignedOnce;
  }

  get fatalError(): Error | undefined {
    return this.fatal;
  }

  get memberInfo(): { memberId: string; generation: number } | undefined {
    return this.member;
  }

  // ---------------------------------------------------------------- assignment

  async onAssignment(a: Assignment): Promise<void> {
    try {
      await this.assign(a);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.fatal = error;
      this.deps.logger.fatal({ err: error, assignment: a }, 'cannot take the assigned partitions');
      this.deps.onFatal?.(error);
    }
  }

  private async assign(a: Assignment): Promise<void> {
    const { logger, ownership } = this.deps;
    const previous = this.member;
    this.member = { memberId: a.memberId, generation: a.generation };
    if (a.revoked.length > 0) {
      await Promise.all(a.revoked.map((p) => this.release(p)));
      if (ownership && previous) await this.safely('withdraw ownership', () => ownership.withdraw(a.revoked, previous));
    }
    if (a.added.length > 0) {
      const offsets = new Map((await this.deps.offsets()).map((o) => [o.partition, o]));
      for (const p of a.added) {
        const o = offsets.get(p) ?? { partition: p, low: 0, high: 0 };
        await this.take(p, o);
      }
    }
    this.assignedOnce = true;
    this.deps.metrics.ownedPartitions.set(this.parts.size);
    if (ownership) await this.safely('publish ownership', () => ownership.publish(this.ownedPartitions, this.member!));
    logger.info(
      { partitions: this.ownedPartitions, added: a.added, revoked: a.revoked, generation: a.generation },
      'assignment applied',
    );
  }

  private async take(p: number, o: PartitionOffsets): Promise<void> {
    const { logger, metrics } = this.deps;
    if (this.parts.has(p)) return;
    const store = await PartitionStore.open(this.deps.dataDir, p);
    const state: PartitionState = { partition: p, store, logStart: o.low, chain: Promise.resolve(), closing: false, outboxDirty: false };
    this.parts.set(p, state);
    const stored = store.lastOffset();
    if (stored === undefined) {
      if (o.low > 0)
        logger.warn({ partition: p, logStart: o.low }, 'the log does not start at 0: restoring from its first record');
      if (o.high > o.low) {
        const now = Date.now();
        state.restore = { from: o.low, target: o.high, startedAt: now, lastLogAt: now };
        metrics.restoreProgress.set({ partition: String(p) }, 0);
        logger.info({ partition: p, from: o.low, to: o.high - 1, records: o.high - o.low }, 'restoring store from the log');
      } else {
        metrics.restoreProgress.set({ partition: String(p) }, 1);
      }
      this.seeker?.seek(p, o.low);
      return;
    }
    metrics.restoreProgress.set({ partition: String(p) }, 1);
    metrics.storedOffset.set({ partition: String(p) }, stored);
    if (stored + 1 < o.low)
      logger.error(
        { partition: p, stored, logStart: o.low },
        'records after the stored offset were deleted from the log: the continuity check holds this partition',
      );
    if (stored >= o.high)
      logger.error(
        { partition: p, stored, logEnd: o.high },
        'the store is ahead of the log (was the topic recreated?): delete the store to restore it',
      );
    // CountChanged that a crash left unsent: send before anything new
    await this.flushOutbox(state);
    this.seeker?.seek(p, stored + 1);
    logger.info({ partition: p, resumeAt: stored + 1 }, 'store opened, resuming after the stored offset');
  }

  private async release(p: number): Promise<void> {
    const state = this.parts.get(p);
    if (!state) return;
    state.closing = true;
    await this.serialize(state, async () => {
      if (!state.restore) await this.flushOutbox(state);
      await state.store.close();
    });
    this.parts.delete(p);
    const labels = { partition: String(p) };
    for (const g of [this.deps.metrics.restoreProgress, this.deps.metrics.storedOffset, this.deps.metrics.lag, this.deps.metrics.storeSize])
      g.remove(labels);
    this.deps.logger.info({ partition: p, storedOffset: state.store.lastOffset() }, 'partition released, store closed');
  }

  /** Finishes work in flight, sends what the outboxes hold, closes every store. */
  async close(): Promise<void> {
    const owned = this.ownedPartitions;
    await Promise.all(owned.map((p) => this.release(p)));
    if (this.deps.ownership && this.member) {
      const member = this.member;
      await this.safely('withdraw ownership', () => this.deps.ownership!.withdraw(owned, member));
    }
  }

  // ---------------------------------------------------------------- batches

  async handleBatch(partition: number, records: ConsumedRecord[], ctx: BatchContext): Promise<void> {
    const state = this.parts.get(partition);
    if (!state || state.closing || ctx.isStale()) return; // not ours (any more): nothing to apply
    await this.serialize(state, () => this.apply(state, records, ctx));
  }

  private async apply(state: PartitionState, records: ConsumedRecord[], ctx: BatchContext): Promise<void> {
    const { codec, metrics, logger, topics } = this.deps;
    const p = state.partition;
    const started = process.hrtime.bigint();
    if (!state.store.isOpen) return;
    if (state.outboxDirty && !state.restore) {
      await this.flushOutbox(state);
      state.outboxDirty = false;
    }
    const stored = state.store.lastOffset();
    const fresh = stored === undefined ? records : records.filter((r) => r.offset > stored);
    if (fresh.length === 0) return; // re-delivery of applied records
    const expected = stored === undefined ? state.logStart : stored + 1;
    if (fresh[0].offset !== expected) {
      // continuity check: applying would skip records (or start a fresh store mid-log)
      let resumeAt = expected;
      if (stored === undefined) {
        const now = (await this.deps.offsets()).find((o) => o.partition === p);
        if (now && now.low === fresh[0].offset) {
          state.logStart = now.low; // the log start moved (retention): this is the first record
          resumeAt = now.low;
        }
      }
      if (fresh[0].offset !== resumeAt) {
        metrics.continuitySeeks.inc({ partition: String(p) });
        logger.warn(
          { partition: p, storedOffset: stored ?? null, expected: resumeAt, got: fresh[0].offset },
          'batch does not continue the store: not applied, seeking back',
        );
        this.seeker?.seek(p, resumeAt);
        return;
      }
    }

    // decode: a record that cannot become a valid LikeEvent of this partition is dead-lettered
    const events: LikeEvent[] = [];
    const dead: { record: ConsumedRecord; reason: DeadLetterReason; detail: string }[] = [];
    for (const record of fresh) {
      let event: LikeEvent;
      try {
        event = await codec.decodeLike(record.value);
      } catch (e) {
        if (!(e instanceof InvalidEventError)) throw e; // registry down: retry the batch later
        const undecodable = /^(value is empty|unknown magic|undecodable)/.test(e.message);
        dead.push({ record, reason: undecodable ? 'undecodable' : 'invalid', detail: e.message });
        continue;
      }
      const key = likeKey(event.postId, event.userId);
      const home = partitionForKey(key, this.deps.partitions);
      if (record.key !== key || home !== p) {
        dead.push({
          record,
          reason: 'wrong-partition',
          detail: `record key ${JSON.stringify(record.key)} on partition ${p}; the event's key is ${key} (partition ${home})`,
        });
        continue;
      }
      events.push(event);
    }
    if (dead.length > 0) {
      // acknowledged before the offset moves past them: a crash in between only duplicates a dead letter
      await this.deps.producer.send({
        topic: topics.deadLetter,
        acks: -1,
        messages: dead.map(({ record, reason, detail }) => ({
          key: record.key,
          value: record.value,
          headers: {
            reason,
            detail: detail.slice(0, 1000),
            'source-topic': topics.events,
            'source-partition': String(p),
            'source-offset': String(record.offset),
          },
        })),
      });
      for (const d of dead) metrics.deadLetters.inc({ reason: d.reason });
      logger.warn(
        { partition: p, deadLetters: dead.map((d) => ({ offset: d.record.offset, reason: d.reason, detail: d.detail })) },
        'records dead-lettered',
      );
    }

    // one multi-get, the pure decider, one atomic write
    const memberKeys = [...new Set(events.map((e) => likeKey(e.postId, e.userId)))];
    const posts = [...new Set(events.map((e) => e.postId))];
    const known = await state.store.getState(memberKeys, posts);
    const outcome = applyBatch(events, known.membership);
    const edits = new Map<string, boolean>();
    for (const [k, liked] of outcome.membership) if (liked !== known.membership.get(k)) edits.set(k, liked);
    const lastOffset = fresh[fresh.length - 1].offset;
    const counts = new Map<string, number>();
    const outbox: OutboxEntry[] = [];
    for (const [postId, delta] of outcome.deltas) counts.set(postId, (known.counts.get(postId) ?? 0) + delta);
    // One CountChanged per post TOUCHED, not only per post whose count moved: after a hand-over another
    // owner may have published intermediate counts with higher source offsets than this store's last
    // record for the post; a batch that touches the post and nets to zero must still supersede them.
    for (const postId of outcome.touchedPosts) {
      const count = counts.get(postId) ?? known.counts.get(postId) ?? 0;
      outbox.push({ postId, partition: p, count, sourceOffset: lastOffset });
    }
    await state.store.commitBatch({ membership: edits, counts, outbox, offset: lastOffset });
    this.deps.afterCommit?.(p, ++this.commits);

    const labels = { partition: String(p) };
    const changed = events.length - outcome.noOps;
    if (changed > 0) metrics.events.inc({ ...labels, outcome: 'applied' }, changed);
    if (outcome.noOps > 0) metrics.events.inc({ ...labels, outcome: 'noop' }, outcome.noOps);
    if (dead.length > 0) metrics.events.inc({ ...labels, outcome: 'dead_letter' }, dead.length);
    metrics.batchSize.observe(fresh.length);
    metrics.storedOffset.set(labels, lastOffset);
    metrics.lag.set(labels, Math.max(0, ctx.highWatermark - 1 - lastOffset));

    if (state.restore) {
      this.restoreProgress(state, lastOffset);
      if (lastOffset >= state.restore.target - 1) await this.finishRestore(state);
    } else {
      await this.send(state, outbox);
    }
    metrics.applyLatency.observe(Number(process.hrtime.bigint() - started) / 1e9);
    await ctx.heartbeat();
  }

  private restoreProgress(state: PartitionState, offset: number): void {
    const r = state.restore!;
    const total = r.target - r.from;
    const done = offset - r.from + 1;
    const progress = Math.min(1, done / total);
    this.deps.metrics.restoreProgress.set({ partition: String(state.partition) }, progress);
    const now = Date.now();
    if (now - r.lastLogAt >= (this.deps.progressEveryMs ?? 2000)) {
      r.lastLogAt = now;
      const rate = done / Math.max(0.001, (now - r.startedAt) / 1000);
      this.deps.logger.info(
        {
          partition: state.partition,
          offset,
          target: r.target - 1,
          progress: Number(progress.toFixed(4)),
          eventsPerSec: Math.round(rate),
          etaSeconds: Math.round((total - done) / Math.max(rate, 1)),
        },
        'restoring',
      );
    }
  }

  private async finishRestore(state: PartitionState): Promise<void> {
    const r = state.restore!;
    const seconds = (Date.now() - r.startedAt) / 1000;
    const records = r.target - r.from;
    state.restore = undefined;
    this.deps.metrics.restoreProgress.set({ partition: String(state.partition) }, 1);
    // the outbox now holds the latest count of every post that changed during the restore: send them,
    // stamped with the store's offset (true: nothing changed them since), so they supersede anything
    // an earlier store of this partition published, even a wrong count (a state rebuild's purpose)
    const sent = await this.flushOutbox(state, state.store.lastOffset());
    this.deps.logger.info(
      {
        partition: state.partition,
        records,
        seconds: Number(seconds.toFixed(2)),
        eventsPerSec: Math.round(records / Math.max(seconds, 0.001)),
        countChanged: sent,
      },
      'store restored',
    );
  }

  // ---------------------------------------------------------------- outbox

  /** Sends every outbox entry of the partition (chunked) and clears what Kafka acknowledged. */
  private async flushOutbox(state: PartitionState, stampOffset?: number): Promise<number> {
    const chunk = this.deps.sendChunk ?? 5000;
    let sent = 0;
    for (;;) {
      const entries = await state.store.readOutbox(chunk);
      if (entries.length === 0) return sent;
      await this.send(state, entries, stampOffset);
      sent += entries.length;
      if (entries.length < chunk) return sent;
    }
  }

  /** Sends outbox entries; `stampOffset` (>= each entry's own) replaces their sourceOffset on the wire. */
  private async send(state: PartitionState, entries: readonly OutboxEntry[], stampOffset?: number): Promise<void> {
    if (entries.length === 0) return;
    const { codec, producer, topics, metrics } = this.deps;
    const chunk = this.deps.sendChunk ?? 5000;
    for (let i = 0; i < entries.length; i += chunk) {
      const part = entries.slice(i, i + chunk);
      const messages = await Promise.all(
        part.map(async (e) => ({
          key: countKey(e.postId, e.partition),
          value: await codec.encodeCount(
            stampOffset !== undefined && stampOffset > e.sourceOffset ? { ...e, sourceOffset: stampOffset } : e,
          ),
        })),
      );
      try {
        await producer.send({ topic: topics.counts, acks: -1, messages });
      } catch (e) {
        state.outboxDirty = true; // the entries stay in the outbox and go out before the next batch
        throw e;
      }
      await state.store.clearOutbox(part);
      metrics.countChanged.inc(part.length);
    }
  }

  // ---------------------------------------------------------------- queries

  async queryLike(partition: number, postId: string, userId: string): Promise<LikeQuery> {
    const state = this.parts.get(partition);
    if (!state || state.closing || !state.store.isOpen) return { kind: 'not-owner' };
    const expected = partitionForKey(likeKey(postId, userId), this.deps.partitions);
    if (expected !== partition) return { kind: 'wrong-partition', expected };
    if (state.restore) {
      const r = state.restore;
      const at = state.store.lastOffset();
      return { kind: 'restoring', progress: at === undefined ? 0 : (at - r.from + 1) / (r.target - r.from) };
    }
    const liked = await state.store.isLiked(postId, userId);
    return { kind: 'ok', liked, asOfOffset: state.store.lastOffset() ?? null };
  }

  async queryCount(partition: number, postId: string): Promise<{ count: number; asOfOffset: number | null } | undefined> {
    const state = this.parts.get(partition);
    if (!state || state.closing || !state.store.isOpen || state.restore) return undefined;
    return { count: await state.store.getCount(postId), asOfOffset: state.store.lastOffset() ?? null };
  }

  async partitionStatus(partition: number): Promise<
    | {
        partition: number;
        storedOffset: number | null;
        restoring: boolean;
        outbox: number;
        storeBytes: number;
      }
    | undefined
  > {
    const state = this.parts.get(partition);
    if (!state || state.closing || !state.store.isOpen) return undefined;
    return {
      partition,
      storedOffset: state.store.lastOffset() ?? null,
      restoring: state.restore !== undefined,
      outbox: state.restore ? -1 : (await state.store.readOutbox(10000)).length,
      storeBytes: await state.store.sizeBytes(),
    };
  }

  /** Refreshes the store size gauges (called at scrape time). */
  async refreshStoreSizes(): Promise<void> {
    await Promise.all(
      [...this.parts.values()].map(async (s) => {
        if (s.closing || !s.store.isOpen) return;
        try {
          this.deps.metrics.storeSize.set({ partition: String(s.partition) }, await s.store.sizeBytes());
        } catch {
          // closed meanwhile
        }
      }),
    );
  }

  // ---------------------------------------------------------------- helpers

  private serialize<T>(state: PartitionState, work: () => Promise<T>): Promise<T> {
    const next = state.chain.then(work, work);
    state.chain = next.catch(() => undefined);
    return next;
  }

  private async safely(what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (e) {
      this.deps.logger.warn({ err: e }, `${what} failed`);
    }
  }
}
