/**
 * The owners map (partition → aggregator), read whole and kept until something says it changed:
 * an aggregator announced new owners (it does after every rebalance: a new consumer-group
 * generation), an owner answered "not the owner" or is gone, the announcements may have been missed
 * (the subscriber reconnected), or `maxAgeMs` passed. A stale entry costs one "rebalancing" answer,
 * never a wrong one: an aggregator answers only for the partitions it owns now. Concurrent lookups
 * share one read; a failed read is not kept.
 */
export class OwnersCache<O> {
  private map?: Promise<ReadonlyMap<number, O>>;
  private loadedAt = 0;
  private version = 0;
  private readonly now: () => number;

  constructor(
    private readonly load: () => Promise<ReadonlyMap<number, O>>,
    private readonly maxAgeMs: number,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
  }

  async owner(partition: number): Promise<O | undefined> {
    if (!this.map || this.now() - this.loadedAt >= this.maxAgeMs) {
      const version = ++this.version;
      this.loadedAt = this.now();
      this.map = this.load();
      this.map.catch(() => {
        if (this.version === version) this.map = undefined;
      });
    }
    return (await this.map).get(partition);
  }

  /** The next lookup reads the map again (a read in flight is not reused). */
  invalidate(): void {
    this.version++;
    this.map = undefined;
  }
}
