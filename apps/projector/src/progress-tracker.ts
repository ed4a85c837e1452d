import type { Logger } from '@doubletap/observability';
import type { HealStart, PartitionProgress, ProgressOutcome, ProgressStep } from '@doubletap/redis';
import type { ProjectorMetrics } from './metrics';

/** Where Redis says each partition stands, and the start of a heal (libs/redis ReadSideProgress). */
export interface ProgressStore {
  positions(partitions: readonly number[]): Promise<Map<number, PartitionProgress>>;
  startHeal(partition: number, low: number, high: number): Promise<HealStart>;
}

/** The consumer's positions (libs/kafka BatchConsumer). */
export interface PartitionControl {
  seek(partition: number, offset: number): void;
  pause(partitions: number[]): void;
  resume(partitions: number[]): void;
}

/** Log start and high watermark of likes.counts partitions (libs/kafka topicOffsets). */
export type LogEnds = () => Promise<Map<number, { low: number; high: number }>>;

export interface ProgressTrackerDeps {
  store: ProgressStore;
  control: PartitionControl;
  logEnds: LogEnds;
  /** P, the partition count of likes.counts */
  partitions: () => number;
  metrics: ProjectorMetrics;
  logger: Logger;
  /** pause between failed attempts to position partitions (Redis or Kafka down), ms */
  backoffMs?: { initial: number; max: number };
  now?: () => number;
}

type State =
  /** the position is being read from Redis (or a heal being started): batches are dropped */
  | { kind: 'positioning' }
  /** p:<n> = next in Redis, as far as this projector knows */
  | { kind: 'live'; next: number }
  /** h:<n> = next; p:<n> is written once next reaches target */
  | { kind: 'healing'; next: number; from: number; target: number; startedAt: number; records: number };

interface Slot {
  state: State;
  /** bumped at every re-positioning: work started under an older epoch is obsolete */
  epoch: number;
  /** batches in flight (0 or 1: the consumer hands one batch per partition at a time) */
  busy: number;
  /** bumped at every state change and batch, so the idle check only acts on what it really saw */
  seq: number;
}

/** A batch the tracker accepted: apply its records with `step`, then settle() and release(). */
export interface BatchPlan {
  partition: number;
  step: ProgressStep;
  readonly slot: Slot;
  readonly epoch: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The projector's per-partition progress state machine (ADR 0008). Redis, not Kafka, says where a
 * partition resumes: on every assignment each partition is paused, its `p:<n>` read, and the
 * consumer sought there. A missing `p:<n>` means Redis lost the data (or never had it): the
 * partition HEALS — sought to its log start, applied up to the high watermark taken then, with its
 * own progress chain `h:<n>`, and only then `p:<n>` is written (which may complete the read side).
 * Every batch moves the progress by compare-and-set; when Redis holds something else (another
 * projector moved it, Redis went back in time, or lost it) the partition is re-sought to what Redis
 * holds (or healed when that is nothing). A timer does the same check for idle partitions.
 *
 * Pure logic: Redis, the consumer and Kafka's offsets come in through small interfaces, so every
 * transition is unit-tested with fakes.
 */
export class ProgressTracker {
  private readonly slots = new Map<number, Slot>();
  private readonly now: () => number;
  private readonly initialBackoff: number;
  private readonly maxBackoff: number;
  private timer?: NodeJS.Timeout;
  private checking = false;
  private stopped = false;

  constructor(private readonly deps: ProgressTrackerDeps) {
    this.now = deps.now ?? Date.now;
    this.initialBackoff = deps.backoffMs?.initial ?? 100;
    this.maxBackoff = deps.backoffMs?.max ?? 2000;
  }

  /** Starts the idle check (every intervalMs; 0 = never). */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The partitions owned now; revoked ones are forgotten, every owned one is positioned again. */
  assign(partitions: readonly number[], revoked: readonly number[]): Promise<void> {
    for (const p of revoked) this.forget(p);
    for (const p of this.slots.keys()) if (!partitions.includes(p)) this.forget(p);
    // the consumer restarts every owned partition at its committed Kafka offset after a rebalance:
    // that is not where Redis is, so each one is sought again, new or not
    for (const p of partitions) this.slots.set(p, { state: { kind: 'positioning' }, epoch: 0, busy: 0, seq: 0 });
    return this.position([...partitions]);
  }

  /**
   * Accepts a batch whose last record is `lastOffset`, or refuses it (undefined): the partition is
   * not owned, is being positioned, or already has every record of the batch.
   */
  plan(partition: number, lastOffset: number): BatchPlan | undefined {
    const slot = this.slots.get(partition);
    if (!slot || slot.state.kind === 'positioning') return undefined;
    const next = lastOffset + 1;
    if (next <= slot.state.next) return undefined;
    const healing = slot.state.kind === 'healing';
    const step: ProgressStep = {
      partition,
      mode: healing ? 'heal' : 'live',
      expected: slot.state.next,
      next,
      target: slot.state.kind === 'healing' ? slot.state.target : 0,
      partitions: this.deps.partitions(),
    };
    slot.busy++;
    slot.seq++;
    return { partition, step, slot, epoch: slot.epoch };
  }

  /** The partition was re-positioned (or revoked) since the plan was made: drop the batch. */
  obsolete(plan: BatchPlan): boolean {
    return this.slots.get(plan.partition) !== plan.slot || plan.slot.epoch !== plan.epoch;
  }

  /** The batch is over (applied or not). */
  release(plan: BatchPlan): void {
    plan.slot.busy = Math.max(0, plan.slot.busy - 1);
    plan.slot.seq++;
  }

  /** What Redis answered to the batch's progress step. */
  settle(plan: BatchPlan, outcome: ProgressOutcome, records: number): void {
    if (this.obsolete(plan)) return;
    const { partition, step } = plan;
    const slot = plan.slot;
    const state = slot.state;
    slot.seq++;
    if (outcome.status === 'ok') {
      if (state.kind === 'live') state.next = step.next;
      else if (state.kind === 'healing') {
        state.next = step.next;
        state.records += records;
        this.deps.metrics.healedRecords.inc(records);
      }
      return;
    }
    if (outcome.status === 'healed') {
      if (state.kind === 'healing') {
        state.records += records;
        this.deps.metrics.healedRecords.inc(records);
        this.healed(partition, state, step.next);
      }
      this.setState(partition, slot, { kind: 'live', next: step.next });
      return;
    }
    const was = `${state.kind === 'healing' ? 'h' : 'p'}:${partition} = ${step.expected}`;
    this.moved(partition, slot, outcome.next, `batch: Redis no longer holds ${was}`);
  }

  /** Why the projector is not ready (undefined = every owned partition is live). */
  notReady(): string | undefined {
    const healing: string[] = [];
    const positioning: number[] = [];
    for (const [p, slot] of [...this.slots].sort(([a], [b]) => a - b)) {
      if (slot.state.kind === 'healing')
        healing.push(`${p} (${Math.max(0, slot.state.next - slot.state.from)} of ${slot.state.target - slot.state.from} offsets)`);
      else if (slot.state.kind === 'positioning') positioning.push(p);
    }
    const why: string[] = [];
    if (healing.length) why.push(`read side healing: partition${healing.length > 1 ? 's' : ''} ${healing.join(', ')}`);
    if (positioning.length) why.push(`reading the progress of partition${positioning.length > 1 ? 's' : ''} ${positioning.join(', ')} from Redis`);
    return why.length ? why.join('; ') : undefined;
  }

  /** Partition → state kind, for tests and diagnostics. */
  states(): Map<number, State['kind']> {
    return new Map([...this.slots].map(([p, s]) => [p, s.state.kind]));
  }

  /**
   * The idle check: one round trip reads p:<n>/h:<n> of every owned partition that is not busy; a
   * value that is not what this projector holds (a FLUSHALL, a Redis restarted empty or from an
   * older snapshot, another projector) re-positions the partition at once, without waiting for a
   * record to arrive. With every owned partition busy it still asks (for none of them): the store
   * guards the cluster's masters on each ask. Returns when done (errors are left to the next tick:
   * Redis may be down).
   */
  async check(): Promise<void> {
    if (this.checking || this.stopped) return;
    const seen = new Map<number, { slot: Slot; seq: number; epoch: number }>();
    for (const [p, slot] of this.slots) {
      if (slot.busy === 0 && slot.state.kind !== 'positioning') seen.set(p, { slot, seq: slot.seq, epoch: slot.epoch });
    }
    // asked even when every partition is busy (a sustained load): the store's check also guards
    // the Redis Cluster masters (ADR 0025: a master added meanwhile gets its marker, a lost one is
    // seen), which must not wait for a quiet moment
    if (seen.size === 0 && this.slots.size === 0) return;
    this.checking = true;
    try {
      const found = await this.deps.store.positions([...seen.keys()]);
      for (const [p, { slot, seq, epoch }] of seen) {
        // anything that happened meanwhile (a batch, a re-positioning) makes this reading stale
        if (this.slots.get(p) !== slot || slot.seq !== seq || slot.epoch !== epoch || slot.busy > 0) continue;
        const { next, heal } = found.get(p) ?? { next: null, heal: null };
        const state = slot.state;
        if (state.kind === 'live' && next === state.next) continue;
        if (state.kind === 'healing' && next === null && heal === state.next) continue;
        const held = state.kind === 'healing' ? `h:${p} = ${state.next}` : `p:${p} = ${state.kind === 'live' ? state.next : '?'}`;
        this.moved(p, slot, next, `idle check: Redis no longer holds ${held}`);
      }
    } catch (err) {
      this.deps.logger.debug({ err }, 'progress check failed (retried at the next tick)');
    } finally {
      this.checking = false;
    }
  }

  /** Redis holds p:<n> = next (re-seek there) or no p:<n> (heal). */
  private moved(partition: number, slot: Slot, next: number | null, why: string): void {
    if (next !== null) {
      this.deps.metrics.reseeks.inc({ reason: 'moved' });
      this.deps.logger.warn({ partition, next, why }, `progress of partition ${partition} is ${next} in Redis: re-seeking there`);
      this.setState(partition, slot, { kind: 'live', next });
      slot.epoch++;
      this.seek(partition, next);
      return;
    }
    this.deps.metrics.reseeks.inc({ reason: 'lost' });
    this.deps.logger.warn({ partition, why }, `progress of partition ${partition} is gone from Redis: healing it`);
    this.setState(partition, slot, { kind: 'positioning' });
    slot.epoch++;
    this.pause([partition]);
    void this.position([partition]);
  }

  /**
   * Positions partitions (all in 'positioning'): p:<n> present → seek there; absent → start a heal
   * from the log start (or an interrupted heal's h:<n>) to the high watermark now. Retries with
   * backoff while Redis or Kafka is unreachable; partitions re-positioned or revoked meanwhile are
   * left to whoever did that.
   */
  private async position(partitions: number[]): Promise<void> {
    const mine = new Map<number, { slot: Slot; epoch: number }>();
    for (const p of partitions) {
      const slot = this.slots.get(p);
      if (slot) mine.set(p, { slot, epoch: slot.epoch });
    }
    // the partitions still in this task's hands (not revoked, not re-positioned by someone else)
    const current = () => [...mine].filter(([p, { slot, epoch }]) => this.slots.get(p) === slot && slot.epoch === epoch).map(([p]) => p);
    this.pause(current());
    let delay = this.initialBackoff;
    for (let attempt = 1; !this.stopped; attempt++) {
      const todo = current().filter((p) => this.slots.get(p)!.state.kind === 'positioning');
      if (todo.length === 0) return;
      try {
        const found = await this.deps.store.positions(todo);
        const lost: number[] = [];
        for (const p of todo) {
          if (!current().includes(p)) continue;
          const next = found.get(p)?.next ?? null;
          if (next === null) lost.push(p);
          else this.live(p, next);
        }
        if (lost.length > 0) {
          const ends = await this.deps.logEnds();
          for (const p of lost) {
            if (!current().includes(p)) continue;
            const end = ends.get(p);
            if (!end) throw new Error(`no offsets for partition ${p} of likes.counts`);
            const start = await this.deps.store.startHeal(p, end.low, end.high);
            if (!current().includes(p)) continue;
            this.started(p, start, end.high);
          }
        }
      } catch (err) {
        if (attempt === 1 || attempt % 20 === 0)
          this.deps.logger.warn({ err, partitions: todo, attempt }, 'cannot read the progress from Redis (or the offsets from Kafka); retrying with backoff');
        await sleep(delay * (0.5 + Math.random() / 2));
        delay = Math.min(this.maxBackoff, delay * 2);
      }
    }
  }

  private started(partition: number, start: HealStart, target: number): void {
    const slot = this.slots.get(partition)!;
    if (start.kind === 'live') return this.live(partition, start.next);
    this.deps.metrics.heals.inc();
    if (start.kind === 'healed') {
      this.deps.logger.warn({ partition, from: start.next, to: target }, `read side lost: healing partition ${partition} from offset ${start.next} to ${target}`);
      this.healed(partition, { kind: 'healing', next: start.next, from: start.next, target, startedAt: this.now(), records: 0 }, start.next);
      return this.live(partition, start.next);
    }
    this.deps.logger.warn({ partition, from: start.from, to: target }, `read side lost: healing partition ${partition} from offset ${start.from} to ${target}`);
    this.deps.metrics.healing.set({ partition: String(partition) }, 1);
    this.setState(partition, slot, { kind: 'healing', next: start.from, from: start.from, target, startedAt: this.now(), records: 0 });
    this.seek(partition, start.from);
    this.resume([partition]);
  }

  private live(partition: number, next: number): void {
    const slot = this.slots.get(partition)!;
    this.setState(partition, slot, { kind: 'live', next });
    this.deps.metrics.healing.set({ partition: String(partition) }, 0);
    this.seek(partition, next);
    this.resume([partition]);
  }

  private healed(partition: number, state: Extract<State, { kind: 'healing' }>, next: number): void {
    const seconds = Math.round((this.now() - state.startedAt) / 100) / 10;
    this.deps.metrics.healing.set({ partition: String(partition) }, 0);
    this.deps.logger.info(
      { partition, next, seconds, records: state.records },
      `partition ${partition} healed in ${seconds} seconds (${state.records} records)`,
    );
  }

  private setState(partition: number, slot: Slot, state: State): void {
    if (slot.state.kind === 'healing' && state.kind !== 'healing') this.deps.metrics.healing.set({ partition: String(partition) }, 0);
    slot.state = state;
    slot.seq++;
  }

  private forget(partition: number): void {
    if (!this.slots.delete(partition)) return;
    this.deps.metrics.healing.remove(String(partition));
  }

  // the consumer may be stopping (or not started): a failed seek/pause is logged, the next
  // assignment positions everything again anyway
  private seek(partition: number, offset: number): void {
    this.safely('seek', () => this.deps.control.seek(partition, offset));
  }

  private pause(partitions: number[]): void {
    if (partitions.length) this.safely('pause', () => this.deps.control.pause(partitions));
  }

  private resume(partitions: number[]): void {
    this.safely('resume', () => this.deps.control.resume(partitions));
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.logger.warn({ err }, `consumer ${what} failed`);
    }
  }
}
