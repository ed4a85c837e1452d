import { existsSync } from 'node:fs';
import type { Logger } from '@doubletap/observability';
import { PartitionStore, storePath } from '@doubletap/store';
import type { ChangelogIO, ChangelogState } from './changelog';
import type { AggregatorMetrics } from './metrics';
import { chooseStandbys, type StandbyChoice } from './standby-choice';
import { applyToStandby, planPromotion, type ChangelogFetch, type ChangelogTail } from './standby-tail';

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
