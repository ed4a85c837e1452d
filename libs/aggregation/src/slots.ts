/**
 * At most `size` holders at a time; the others wait in arrival order. The changelog restores of a
 * process share one: each restore reads through its own consumer, whose fetches hold decoded
 * records, so restoring many partitions at once would hold all of their batches at once.
 */
export class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`slots: size must be a positive integer (got ${size})`);
    this.free = size;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    }
  }
}
