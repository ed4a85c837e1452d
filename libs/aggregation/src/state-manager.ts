import type { PartitionOffsets, TopicIdentity, TxRecord } from '@doubletap/kafka';
import { PartitionStore, type BatchWrite, type SourceIdentity, type StandbyMark } from '@doubletap/store';
import { publishDirty, rewriteChangelog, writeUnlogged, type CatchUpOutputDeps, type LogMode, type Publish } from './catch-up-output';
import { changelogRecords, type ChangelogIO, type ChangelogState } from './changelog';
import { planPromotion, readTailInto } from './standby-tail';
import { planChangelog, planTake, type TakePlan } from './take-plan';

export interface StateManagerDeps extends CatchUpOutputDeps {
  pinned: number;
  dataDir: string;
  /** the changelog topic; with `changelog` unset, nothing is logged or restored (tools that only replay) */
  changelogTopic?: string;
  changelog?: ChangelogIO;
  /** recompute from the input log whatever the changelog holds, then rewrite the changelog */
  rebuild?: boolean;
  /** a store this many input records behind the changelog is replaced by a changelog restore */
  restoreThreshold?: number;
}

/**
 * The store of one partition (Kafka Streams' state manager): opens it, decides with the changelog
 * how it gets current — restore from the changelog (a partition that moved: current state, not
 * history), catch up from the input log, or both — keeps the changelog following every batch, and
 * when a catch-up ends rewrites a changelog that was empty or stale and publishes the counts the
 * catch-up held back.
 */
export class StateManager {
  private current?: PartitionStore;
  private log: LogMode = { kind: 'off' };
  /** the store's source identity, written with the next batch when the store has none yet */
  private pendingSource?: SourceIdentity;

  constructor(private readonly deps: StateManagerDeps) {}

  get store(): PartitionStore {
    if (!this.current) throw new Error(`the store of partition ${this.deps.partition} is not open`);
    return this.current;
  }

  get isOpen(): boolean {
    return this.current?.isOpen ?? false;
  }

  /** The input topic the store is (or is about to be) built from. */
  sourceIdentity(): SourceIdentity | undefined {
    return this.current?.source() ?? this.pendingSource;
  }

  /** Opens the store, restores it from the changelog when that is the way, and plans the catch-up. */
  async open(view: { identity: TopicIdentity; offsets: PartitionOffsets; changelog?: ChangelogState }): Promise<TakePlan> {
    const { partition: p, dataDir } = this.deps;
    this.current = await PartitionStore.open(dataDir, p);
    const mark = this.current.standby();
    if (mark && !(await this.promote(mark, view))) {
      await this.current.close();
      await PartitionStore.destroy(dataDir, p);
      this.current = await PartitionStore.open(dataDir, p);
    }
    if (this.deps.changelog && view.changelog && this.deps.rebuild) this.log = { kind: 'rewrite' };
    else if (this.deps.changelog && view.changelog) {
      const cl = planChangelog({
        stored: this.current.lastOffset(),
        changelog: view.changelog,
        identity: view.identity,
        restoreThreshold: this.deps.restoreThreshold ?? 50_000,
      });
      if (cl.kind === 'refuse') return { kind: 'refuse', refusal: cl.refusal };
      if (cl.kind === 'restore') {
        if (cl.replaceStore) {
          await this.current.close();
          await PartitionStore.destroy(dataDir, p);
          this.current = await PartitionStore.open(dataDir, p);
        }
        await this.restore(view.changelog, cl.offset, cl.source);
        this.log = { kind: 'append', epochStart: cl.epochStart, deferred: false };
      } else if (cl.kind === 'append') this.log = { kind: 'append', epochStart: cl.epochStart, deferred: false };
      else {
        this.log = { kind: 'rewrite' };
        await this.current.clearUnlogged(); // the whole store goes to the changelog anyway
      }
    }
    const plan = planTake({
      partition: p,
      pinned: this.deps.pinned,
      identity: view.identity,
      offsets: view.offsets,
      stored: this.current.lastOffset(),
      source: this.current.source(),
    });
    if (plan.kind === 'consume' && !this.current.source()) this.pendingSource = plan.source;
    // a catch-up logs each changed key once, at its end; keys marked by a catch-up that did not end
    // (a crash) are written then too
    if (this.log.kind === 'append' && plan.kind === 'consume' && (plan.target > plan.from || (await this.current.unlogged(1)).length > 0))
      this.log.deferred = true;
    return plan;
  }

  /** The changelog records of a batch (none unless the changelog is being appended to per batch). */
  changelogFor(write: BatchWrite): TxRecord[] {
    if (this.log.kind !== 'append' || this.log.deferred || !this.deps.changelogTopic) return [];
    const withSource = this.pendingSource && { ...write, source: this.pendingSource };
    return changelogRecords(this.deps.changelogTopic, this.deps.partition, withSource ?? write, this.log.epochStart);
  }

  /** The atomic store write of a batch (records the source identity with the first one). */
  async commit(write: BatchWrite): Promise<void> {
    const logLater = this.log.kind === 'append' && this.log.deferred;
    await this.store.commitBatch({ ...write, source: this.pendingSource ?? write.source, logLater });
    this.pendingSource = undefined;
  }

  /**
   * The catch-up is over: a changelog that was empty or stale is emptied and rewritten from the
   * store (its last transaction names the offset and the new epoch), then the counts the catch-up
   * held back are published, stamped with the store's offset.
   */
  async finishCatchUp(publish: Publish, afterOutput?: () => void): Promise<void> {
    if (this.log.kind === 'rewrite') this.log = (await rewriteChangelog(this.store, this.deps, publish)) ?? this.log;
    else if (this.log.kind === 'append' && this.log.deferred)
      this.log = (await writeUnlogged(this.store, this.deps, publish, this.log.epochStart)) ?? this.log;
    await publishDirty(this.store, this.deps, publish, afterOutput);
  }

  async close(): Promise<void> {
    await this.current?.close();
  }

  /**
   * A standby store becomes the partition's store by reading only the changelog after its position
   * (ADR 0018); false when it cannot (the changelog is not one a full restore would use, or it was
   * rewritten since): the caller drops it and takes the partition as from an empty store.
   */
  private async promote(mark: StandbyMark, view: { identity: TopicIdentity; changelog?: ChangelogState }): Promise<boolean> {
    const { partition: p, logger, metrics, changelog } = this.deps;
    const cl = view.changelog;
    const discard = (reason: string): false => {
      metrics.promotions.inc({ outcome: 'discarded' });
      logger.info({ partition: p, position: mark.position, reason }, 'standby store dropped; taking the partition without it');
      return false;
    };
    if (!changelog || !cl || this.deps.rebuild) return discard('no changelog to promote it from');
    if (planChangelog({ stored: undefined, changelog: cl, identity: view.identity, restoreThreshold: 0 }).kind !== 'restore')
      return discard('the changelog is not one a restore would use');
    const plan = planPromotion(mark, cl);
    if (plan.kind === 'discard') return discard(plan.reason);
    const started = process.hrtime.bigint();
    const tail = changelog.openTail();
    let read: number | 'reset';
    try {
      read = await readTailInto(tail, this.store, plan.from, plan.to);
    } finally {
      await tail.close();
    }
    if (read === 'reset') return discard('the changelog was rewritten after the standby position');
    await this.store.promote(cl.offset!, cl.source);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.promotions.inc({ outcome: 'promoted' });
    metrics.promotionSeconds.observe(seconds);
    metrics.promotionRecords.set({ partition: String(p) }, read);
    logger.info(
      { partition: p, records: read, from: plan.from, to: plan.to, behind: plan.to - plan.from, seconds: Number(seconds.toFixed(3)), offset: cl.offset },
      'standby promoted: read the changelog tail only',
    );
    return true;
  }

  private async restore(cl: ChangelogState, offset: number, source: SourceIdentity | undefined): Promise<void> {
    const { partition: p, logger } = this.deps;
    const started = Date.now();
    let records = 0;
    logger.info({ partition: p, from: cl.low, to: cl.high - 1, offset }, 'restoring the store from the changelog');
    // one store write in flight while the next changelog batch is fetched and decoded (the writes
    // stay in order: each waits for the one before it)
    let writing: Promise<void> | undefined;
    try {
      await this.deps.changelog!.read(p, cl.low, cl.high, async (entries) => {
        records += entries.length;
        // meta records describe the changelog, not the state: applied once, at the end
        const state = entries.filter((e) => !e.key.startsWith('meta/'));
        if (writing) await writing;
        writing = this.store.restoreEntries(state);
        writing.catch(() => undefined); // awaited by the next batch or below, never left unhandled
      });
    } catch (e) {
      await writing?.catch(() => undefined);
      throw e;
    }
    await writing;
    await this.store.restoreEntries([], offset, source);
    const seconds = (Date.now() - started) / 1000;
    const { metrics } = this.deps;
    metrics.restoreSeconds.observe(seconds);
    metrics.lastRestoreSeconds.set({ partition: String(p) }, seconds);
    metrics.lastRestoreRecords.set({ partition: String(p) }, records);
    logger.info(
      { partition: p, records, seconds: Number(seconds.toFixed(2)), recordsPerSec: Math.round(records / Math.max(seconds, 0.001)), offset },
      'store restored from the changelog',
    );
  }
}
