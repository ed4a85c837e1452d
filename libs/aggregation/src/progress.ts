import type { Logger } from '@doubletap/observability';
import type { AggregatorMetrics } from './metrics';

/**
 * Progress of a partition catching up to the log end it saw when it took the partition: the
 * `restore_progress` gauge, and a log line every few seconds with rate and ETA.
 */
export class CatchUpProgress {
  private readonly startedAt = Date.now();
  private lastLogAt = this.startedAt;
  private offset: number;

  constructor(
    readonly partition: number,
    readonly from: number,
    /** exclusive: caught up once `target - 1` is applied */
    readonly target: number,
    private readonly logger: Logger,
    private readonly metrics: AggregatorMetrics,
    private readonly everyMs = 2000,
  ) {
    this.offset = from - 1;
    metrics.restoreProgress.set({ partition: String(partition) }, 0);
  }

  /** fraction done, 0..1 */
  get ratio(): number {
    const total = this.target - this.from;
    return total <= 0 ? 1 : Math.min(1, (this.offset - this.from + 1) / total);
  }

  done(offset: number): boolean {
    return offset >= this.target - 1;
  }

  at(offset: number): void {
    this.offset = offset;
    this.metrics.restoreProgress.set({ partition: String(this.partition) }, this.ratio);
    const now = Date.now();
    if (now - this.lastLogAt < this.everyMs) return;
    this.lastLogAt = now;
    const done = offset - this.from + 1;
    const rate = done / Math.max(0.001, (now - this.startedAt) / 1000);
    this.logger.info(
      {
        partition: this.partition,
        offset,
        target: this.target - 1,
        progress: Number(this.ratio.toFixed(4)),
        eventsPerSec: Math.round(rate),
        etaSeconds: Math.round((this.target - 1 - offset) / Math.max(rate, 1)),
      },
      'catching up',
    );
  }

  /** `takeoverSeconds`: since the partition was assigned here (the log line carries it) */
  finish(takeoverSeconds?: number): void {
    const seconds = (Date.now() - this.startedAt) / 1000;
    const records = this.target - this.from;
    this.metrics.restoreProgress.set({ partition: String(this.partition) }, 1);
    this.logger.info(
      {
        partition: this.partition,
        records,
        seconds: Number(seconds.toFixed(2)),
        eventsPerSec: Math.round(records / Math.max(seconds, 0.001)),
        takeoverSeconds,
      },
      'caught up',
    );
  }
}
