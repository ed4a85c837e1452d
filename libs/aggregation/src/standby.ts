import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Logger } from '@doubletap/observability';
import { PartitionStore, storeKeys, storePath, type StandbyMark, type StoreEntry } from '@doubletap/store';
import { parseOffsetRecord, type ChangelogIO, type ChangelogState } from './changelog';
import type { AggregatorMetrics } from './metrics';

/** One committed changelog record as a tail reads it. */
export interface ChangelogRecord {
  offset: number;
  key: string;
  value: string | null;
}

export type ChangelogFetch =
  /** records from the position asked for (maybe none), where to read next, the partition's end */
  | { kind: 'records'; records: ChangelogRecord[]; next: number; end: number }
  /** the position is outside the log (a rewrite moved its start past it): start again at `low` */
  | { kind: 'out-of-range'; low: number; high: number };

/** Reads changelog partitions from positions the caller keeps, without a consumer group. */
export interface ChangelogTail {
  /** one round over these partitions (partition → next offset); may wait a little when nothing is new */
  fetch(positions: ReadonlyMap<number, number>): Promise<Map<number, ChangelogFetch>>;
  close(): Promise<void>;
}

/** How many standbys a member keeps: none, every partition it does not own, or up to n of them. */
export type StandbyChoice = 'none' | 'all' | number;

/**
 * Applies changelog records to a standby store, with the position after them, in one atomic write.
 * Returns 'reset' when a record shows the changelog started a new epoch (it was emptied and
 * rewritten, ADR 0009) after what the store holds: the store must start again from nothing.
 */
export async function applyToStandby(
  store: PartitionStore,
  records: readonly ChangelogRecord[],
  next: number,
): Promise<'applied' | 'reset'> {
  const mark = store.standby();
  if (!mark) throw new Error(`partition ${store.partition}: the store is not a standby`);
  const entries: StoreEntry[] = [];
  for (const r of records) {
    if (r.offset < mark.position) continue;
    if (r.key === storeKeys.offset) {
      if (r.value === null) continue; // a withdrawn offset: the transactions that follow name it again
      const { epochStart, offset } = parseOffsetRecord(r.value);
      if (mark.epochStart !== null ? epochStart !== mark.epochStart : epochStart > mark.base) return 'reset';
      mark.epochStart = epochStart;
      mark.offset = offset;
    } else if (!r.key.startsWith('meta/')) entries.push({ key: r.key, value: r.value });
  }
  mark.position = Math.max(mark.position, next);
  await store.applyStandby(entries, mark);
  return 'applied';
}

export type PromotionPlan =
  /** apply the changelog's [from, to) to the standby, then it is the store */
  | { kind: 'tail'; from: number; to: number }
  /** the standby cannot be completed from the tail: drop it and take the partition as an empty store */
  | { kind: 'discard'; reason: string };

/**
 * Can a standby at `mark` be made exact by reading only the changelog after it (pure)? Yes when the
 * changelog is usable (it names an offset, no record of its epoch was deleted) and the standby
 * follows that same epoch from its start, with its position inside the log: every record after the
 * position is then the rest of what a full restore reads, and compaction only ever removed records a
 * later one overwrites — so the standby plus the tail equals a full restore.
 */
export function planPromotion(mark: StandbyMark, cl: ChangelogState): PromotionPlan {
  if (cl.offset === undefined || cl.epochStart === undefined)
    return { kind: 'discard', reason: 'the changelog names no offset' };
  if (cl.low > cl.epochStart)
    return { kind: 'discard', reason: 'records of the changelog epoch were deleted' };
  const epoch = mark.epochStart ?? mark.base;
  if (epoch !== cl.epochStart)
    return {
      kind: 'discard',
      reason: `the standby follows epoch ${epoch}, the changelog is at epoch ${cl.epochStart}`,
    };
  if (mark.position < cl.low || mark.position > cl.high)
    return {
      kind: 'discard',
      reason: `the standby position ${mark.position} is outside the changelog [${cl.low}, ${cl.high})`,
    };
  return { kind: 'tail', from: mark.position, to: cl.high };
}

/**
 * Reads [from, to) of one changelog partition through `tail` and applies it to the standby store.
 * Returns the records read, or 'reset' when the changelog turned out to be in another epoch.
 */
export async function readTailInto(
  tail: ChangelogTail,
  store: PartitionStore,
  from: number,
  to: number,
): Promise<number | 'reset'> {
  const p = store.partition;
  let records = 0;
  for (let position = from, idle = 0; position < to;) {
    const got = (await tail.fetch(new Map([[p, position]]))).get(p);
    if (got?.kind === 'out-of-range') return 'reset';
    if (!got || got.next === position) {
      if (++idle > 600)
        throw new Error(
          `partition ${p}: the changelog did not advance past ${position} (reading up to ${to})`,
        );
      if (!got) await new Promise((r) => setTimeout(r, 50));
      continue; // the tail waited at the broker (or the leader moved): ask again
    }
    idle = 0;
    const inside = got.records.filter((r) => r.offset < to);
    records += inside.length;
    if ((await applyToStandby(store, inside, Math.min(got.next, to))) === 'reset') return 'reset';
    position = Math.min(got.next, to);
  }
  return records;
}

/** The standby partitions of a member: by rendezvous hash on its seed, those it has a store of first. */
export function chooseStandbys(
  choice: StandbyChoice,
  partitions: number,
  owned: readonly number[],
  seed: string,
  hasStore: (p: number) => boolean,
): number[] {
  if (choice === 'none') return [];
  const free = Array.from({ length: partitions }, (_, p) => p).filter((p) => !owned.includes(p));
  if (choice === 'all') return free;
  const rank = (p: number) => createHash('sha1').update(`${seed}/${p}`).digest().readUInt32BE(0);
  return free
    .map((p) => ({ p, stored: hasStore(p) ? 0 : 1, rank: rank(p) }))
    .sort((a, b) => a.stored - b.stored || a.rank - b.rank)
    .slice(0, choice)
    .map((x) => x.p)
    .sort((a, b) => a - b);
}

export interface StandbyDeps {
  dataDir: string;
  /** the pinned partition count */
  partitions: number;
  choice: Exclude<StandbyChoice, 'none'>;
  /** identifies this member's data (its dataDir): which n partitions it keeps */
  seed: string;
  changelog: ChangelogIO;
  tail: ChangelogTail;
  logger: Logger;
  metrics: AggregatorMetrics;
  /** pause after a failed round (ms) */
  retryMs?: number;
}

/**
 * The standby copies of one process (Kafka Streams' standby tasks): for partitions it does not own,
 * a local store that follows the partition's changelog, record by record, with the changelog
 * position it has applied written atomically with the state. A partition given to this process is
 * first handed over (`release`: the tail stops, the store closes) and then promoted by its task:
 * only the records after the standby's position are read. A store this process gives up becomes a
 * standby again (`update`), picked up where its changelog stands.
 */
export class StandbyManager {
  private readonly stores = new Map<number, PartitionStore>();
  private chain: Promise<unknown> = Promise.resolve();
  private running = false;
  private stopped = false;
  private loop?: Promise<void>;
  private wake?: () => void;

  constructor(private readonly deps: StandbyDeps) {}

  get partitions(): number[] {
    return [...this.stores.keys()].sort((a, b) => a - b);
  }

  /** partition → input offset each standby's state corresponds to (what it tells the group leader) */
  get warm(): Record<number, number> {
    const out: Record<number, number> = {};
    for (const [p, s] of this.stores) {
      const offset = s.standby()?.offset;
      if (offset !== undefined) out[p] = offset;
    }
    return out;
  }

  /** The changelog position a standby has applied up to (undefined: not a standby here). */
  positionOf(partition: number): number | undefined {
    return this.stores.get(partition)?.standby()?.position;
  }

  /** Follows the partitions chosen among those not `owned` (and stops following the rest). */
  update(owned: readonly number[]): Promise<void> {
    const { choice, partitions, seed, dataDir } = this.deps;
    const wanted = new Set(
      chooseStandbys(
        choice,
        partitions,
        owned,
        seed,
        (p) => this.stores.has(p) || existsSync(storePath(dataDir, p)),
      ),
    );
    return this.serialize(async () => {
      if (this.stopped) return;
      for (const p of [...this.stores.keys()]) if (!wanted.has(p)) await this.drop(p);
      const added = [...wanted].filter((p) => !this.stores.has(p) && !owned.includes(p));
      if (added.length > 0) await this.adopt(added);
      this.deps.metrics.standbyPartitions.set(this.stores.size);
      this.start();
    });
  }

  /** Stops following these partitions and closes their stores (their tasks are about to open them). */
  release(partitions: readonly number[]): Promise<void> {
    return this.serialize(async () => {
      for (const p of partitions) await this.drop(p);
      this.deps.metrics.standbyPartitions.set(this.stores.size);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.running = false;
    this.wake?.();
    await this.loop;
    await this.serialize(async () => {
      for (const p of [...this.stores.keys()]) await this.drop(p);
    });
    await this.deps.tail.close();
  }

  private async drop(p: number): Promise<void> {
    const store = this.stores.get(p);
    if (!store) return;
    this.stores.delete(p);
    this.deps.metrics.standbyLag.remove({ partition: String(p) });
    await store.close();
  }

  /**
   * Opens the stores of partitions to follow. A standby continues from its mark; a store that was
   * this process's own (given up at a rebalance, or left by a run that owned it) continues from the
   * changelog record that named its offset, when the changelog's latest offset is the store's; any
   * other store starts again from nothing at the changelog's start.
   */
  private async adopt(partitions: number[]): Promise<void> {
    const { dataDir, logger } = this.deps;
    const opened = new Map<number, PartitionStore>();
    for (const p of partitions) opened.set(p, await PartitionStore.open(dataDir, p));
    const needLook = [...opened.values()].filter((s) => !s.standby()).map((s) => s.partition);
    const states =
      needLook.length > 0
        ? await this.deps.changelog.inspect(needLook).catch(() => undefined)
        : new Map<number, ChangelogState>();
    for (const [p, store] of opened) {
      let current = store;
      const mark = store.standby();
      if (!mark) {
        const cl = states?.get(p);
        const stored = store.lastOffset();
        if (!cl) {
          await store.close();
          continue; // the changelog could not be looked at: try again at the next assignment
        }
        if (
          stored !== undefined &&
          cl.offset === stored &&
          cl.offsetAt !== undefined &&
          planPromotion({ position: cl.offsetAt + 1, epochStart: cl.epochStart ?? null, base: cl.low }, cl)
            .kind === 'tail'
        ) {
          await store.becomeStandby({
            position: cl.offsetAt + 1,
            epochStart: cl.epochStart!,
            base: cl.epochStart!,
          });
          logger.info({ partition: p, offset: stored, position: cl.offsetAt + 1 }, 'store kept as a standby');
        } else {
          current = await this.fresh(store, cl.low);
          logger.info(
            { partition: p, from: cl.low, to: cl.high },
            'standby started from the changelog start',
          );
        }
      } else logger.info({ partition: p, position: mark.position }, 'standby resumed');
      this.stores.set(p, current);
    }
  }

  /** An empty standby at `low` (the store is destroyed and created again). */
  private async fresh(store: PartitionStore, low: number): Promise<PartitionStore> {
    const p = store.partition;
    await store.close();
    await PartitionStore.destroy(this.deps.dataDir, p);
    const next = await PartitionStore.open(this.deps.dataDir, p);
    await next.becomeStandby({ position: low, epochStart: null, base: low });
    return next;
  }

  private start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const { logger, metrics } = this.deps;
    let failures = 0;
    while (this.running) {
      const positions = new Map<number, number>();
      for (const [p, s] of this.stores) positions.set(p, s.standby()!.position);
      if (positions.size === 0) {
        await this.sleep(1000);
        continue;
      }
      let got: Map<number, ChangelogFetch>;
      try {
        got = await this.deps.tail.fetch(positions);
        failures = 0;
        if (got.size === 0) await this.sleep(200); // no leader answered (metadata refreshed): not a busy loop
      } catch (e) {
        if (failures++ % 20 === 0) logger.warn({ err: e }, 'standby changelog fetch failed; retrying');
        await this.sleep(this.deps.retryMs ?? 1000);
        continue;
      }
      await this.serialize(async () => {
        for (const [p, r] of got) {
          const store = this.stores.get(p);
          // handed over (or reset) meanwhile: what was fetched for it is not applied
          if (!store || store.standby()?.position !== positions.get(p)) continue;
          try {
            let restart: number | undefined;
            if (r.kind === 'out-of-range') restart = r.low;
            else if ((await applyToStandby(store, r.records, r.next)) === 'reset')
              restart = (await this.deps.changelog.inspect([p])).get(p)?.low;
            else metrics.standbyLag.set({ partition: String(p) }, Math.max(0, r.end - r.next));
            if (restart !== undefined) {
              logger.info(
                { partition: p, from: restart },
                'changelog rewritten: standby starts again from its start',
              );
              this.stores.set(p, await this.fresh(store, restart));
            }
          } catch (e) {
            logger.warn({ err: e, partition: p }, 'standby could not apply changelog records; retrying');
          }
        }
      });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private serialize<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }
}

/** AGGREGATOR_STANDBYS: `none`, `all` or a count of partitions (0 = none). */
export function parseStandbyChoice(text: string): StandbyChoice | undefined {
  if (text === 'none' || text === 'all') return text;
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n === 0 ? 'none' : n;
}
