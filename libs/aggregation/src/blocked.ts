import { describeError, type BatchContext } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { Backoff } from './backoff';
import { DecodeBlockedError } from './decode';
import type { AggregatorMetrics } from './metrics';

/** What a partition waits for while a dependency is down, reported in /ready and as a gauge. */
export class BlockedState {
  current?: { what: string; since: number; error?: string };

  constructor(
    private readonly partition: number,
    private readonly metrics: AggregatorMetrics,
  ) {}

  set(what: string | undefined, error?: unknown): void {
    if (what === undefined && !this.current) return;
    const labels = { partition: String(this.partition) };
    if (this.current && this.current.what !== what) this.metrics.blocked.remove({ ...labels, waiting_for: this.current.what });
    if (what === undefined) {
      this.current = undefined;
      return;
    }
    const message = error === undefined ? undefined : describeError(error);
    if (this.current?.what !== what) this.current = { what, since: Date.now(), error: message };
    else this.current.error = message;
    this.metrics.blocked.set({ ...labels, waiting_for: what }, 1);
  }
}

/**
 * Runs `fn` until it stops throwing DecodeBlockedError (the schema registry cannot answer), with
 * backoff and heartbeats in between; undefined when the batch was given up meanwhile (at once when
 * `stopping` is aborted during a wait). Records are
 * retried, never dead-lettered, while the registry is the problem.
 */
export async function untilDecoded<T>(
  fn: () => Promise<T>,
  ctx: BatchContext,
  options: {
    blocked: BlockedState;
    logger: Logger;
    partition: number;
    /** aborted when the partition is given up: the wait ends at once and the batch is given up */
    stopping: AbortSignal;
    backoffMs?: { initial: number; max: number };
  },
): Promise<T | undefined> {
  const { stopping } = options;
  const backoff = new Backoff(options.backoffMs?.initial ?? 100, options.backoffMs?.max ?? 5000, stopping);
  const givenUp = () => stopping.aborted || !ctx.isRunning() || ctx.isStale();
  for (let attempt = 1; ; attempt++) {
    try {
      const value = await fn();
      // cleared on any success: a batch given up while blocked leaves the state to the next batch
      if (options.blocked.current) options.blocked.set(undefined);
      return value;
    } catch (e) {
      if (!(e instanceof DecodeBlockedError)) throw e;
      options.blocked.set('schema-registry', e);
      if (attempt === 1 || attempt % 20 === 0)
        options.logger.warn({ partition: options.partition, err: e, attempt }, 'waiting for the schema registry (records are retried, never dead-lettered)');
    }
    if (givenUp()) return undefined;
    await backoff.wait();
    if (givenUp()) return undefined;
    await ctx.heartbeat(); // a rebalance makes this throw: kafkajs rejoins and redelivers
  }
}
