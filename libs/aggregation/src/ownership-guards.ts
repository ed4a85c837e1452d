import type { BatchContext } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { Backoff } from './backoff';
import { PartitionLostError, type OwnershipGuard } from './record-collector';
import type { PartitionControl } from './types';

/**
 * How a task makes sure the partition is still its own before it writes (ADR 0024): the guards its
 * record collector asks before re-opening a producer, which would fence the partition's other
 * writers.
 */
export class OwnershipGuards {
  constructor(
    private readonly partition: number,
    private readonly control: () => PartitionControl | undefined,
    /** aborted once the task is being given up (ends a wait for the coordinator at once) */
    private readonly stopping: AbortSignal,
    private readonly logger: Logger,
    /** the wait between asks of a coordinator that cannot answer */
    private readonly backoffMs = { initial: 200, max: 5000 },
  ) {}

  /** Inside a batch: a batch whose ownership cannot be confirmed is not applied (the consumer delivers it again). */
  forBatch(ctx: BatchContext): OwnershipGuard {
    return {
      confirm: async () => {
        if (!(await this.confirmOwnership())) throw new Error('the group coordinator no longer gives us this partition');
      },
      active: () => !this.stopping.aborted && ctx.isRunning() && !ctx.isStale(),
    };
  }

  /**
   * Outside a batch (taking the partition, publishing what a catch-up held back). A new producer
   * fences whoever holds the partition's transactional id, so after a failed or fenced transaction
   * the coordinator is asked first: a member that lost the partition meanwhile (a rebalance under way,
   * an eviction) must never fence the new owner and write after it (changelog records of an older
   * state after a newer owner's would make a later restore inexact). While the coordinator cannot be
   * asked, it waits: there is no batch to hand back, and giving up would leave the partition untaken.
   */
  local(): OwnershipGuard {
    return {
      active: () => !this.stopping.aborted,
      confirm: async () => {
        const backoff = new Backoff(this.backoffMs.initial, this.backoffMs.max, this.stopping);
        for (let attempt = 1; ; attempt++) {
          if (this.stopping.aborted) throw new Error('given up');
          try {
            if (await this.confirmOwnership()) return;
            throw new PartitionLostError(this.partition, 'the group coordinator no longer gives us this partition');
          } catch (e) {
            if (e instanceof PartitionLostError) throw e;
            if (attempt === 1 || attempt % 10 === 0)
              this.logger.warn({ err: e, partition: this.partition, attempt }, 'cannot confirm ownership with the group coordinator; retrying');
            await backoff.wait();
          }
        }
      },
    };
  }

  /** true while the consumer has no control yet (tools that replay without a group) or the coordinator confirms */
  private confirmOwnership(): Promise<boolean> {
    const control = this.control();
    return control ? control.confirmOwnership(this.partition) : Promise.resolve(true);
  }
}
