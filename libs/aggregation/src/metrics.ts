import type { BatchFold } from '@doubletap/likes';
import { counter, gauge, histogram, type Counter, type Gauge, type Histogram, type Logger, type Registry } from '@doubletap/observability';
import type { DeadRecord } from './decode';

export interface AggregatorMetrics {
  /** events read from the input, by outcome: applied (changed a count), noop (duplicate), dead_letter */
  events: Counter;
  deadLetters: Counter;
  batchSize: Histogram;
  applyLatency: Histogram;
  restoreProgress: Gauge;
  storeSize: Gauge;
  storedOffset: Gauge;
  lag: Gauge;
  countChanged: Counter;
  continuitySeeks: Counter;
  ownedPartitions: Gauge;
  /** 1 while a partition refuses to apply (recreated or truncated log, changed partition count), by reason */
  stopped: Gauge;
  /** 1 while a partition waits for a dependency (schema registry, Kafka), by what it waits for */
  blocked: Gauge;
  /** output transactions that failed (the producer was replaced) or were fenced */
  transactions: Counter;
  /** standby copies (ADR 0018): how many, how far behind their changelog, promotions */
  standbyPartitions: Gauge;
  standbyLag: Gauge;
  promotions: Counter;
  promotionSeconds: Histogram;
  promotionRecords: Gauge;
  /** full restores of a store from the changelog (a partition taken without a usable local store) */
  restoreSeconds: Histogram;
  /** the last restore of a partition: its duration and the changelog records it read */
  lastRestoreSeconds: Gauge;
  lastRestoreRecords: Gauge;
  /** assignment → live (fence, changelog inspection, restore or promotion, catch-up, publish): how long a moved partition went unserved here */
  takeoverSeconds: Histogram;
  lastTakeoverSeconds: Gauge;
}

export function createAggregatorMetrics(registry: Registry): AggregatorMetrics {
  return {
    events: counter(
      registry,
      'doubletap_aggregator_events_total',
      'input events consumed, by outcome (applied, noop, dead_letter); rate() gives events/s',
      ['partition', 'outcome'],
    ),
    deadLetters: counter(
      registry,
      'doubletap_aggregator_dead_letters_total',
      'records sent to the dead-letter topic, by reason',
      ['reason'],
    ),
    batchSize: histogram(
      registry,
      'doubletap_aggregator_batch_size',
      'records per applied batch',
      [],
      [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000],
    ),
    applyLatency: histogram(
      registry,
      'doubletap_aggregator_apply_seconds',
      'time to apply one batch: decode, multi-get, fold, output transaction committed, atomic store write',
    ),
    restoreProgress: gauge(
      registry,
      'doubletap_aggregator_restore_progress_ratio',
      'progress of a partition catching its store up to the log end it saw when it took the partition (0..1; 1 = done)',
      ['partition'],
    ),
    storeSize: gauge(registry, 'doubletap_aggregator_store_bytes', 'approximate store size on disk', ['partition']),
    storedOffset: gauge(
      registry,
      'doubletap_aggregator_stored_offset',
      'last input offset applied to the store',
      ['partition'],
    ),
    lag: gauge(
      registry,
      'doubletap_aggregator_lag_records',
      'records between the stored offset and the log end at the last fetch',
      ['partition'],
    ),
    countChanged: counter(
      registry,
      'doubletap_aggregator_count_changed_total',
      'CountChanged records committed to Kafka',
    ),
    continuitySeeks: counter(
      registry,
      'doubletap_aggregator_continuity_seeks_total',
      'batches not applied because they did not continue the stored offset (the partition was re-positioned)',
      ['partition'],
    ),
    ownedPartitions: gauge(registry, 'doubletap_aggregator_owned_partitions', 'input partitions owned by this process'),
    stopped: gauge(
      registry,
      'doubletap_aggregator_partition_stopped',
      '1 while a partition refuses to apply its log (recreated, truncated, re-partitioned), by reason',
      ['partition', 'reason'],
    ),
    blocked: gauge(
      registry,
      'doubletap_aggregator_partition_blocked',
      '1 while a partition waits for a dependency (schema registry, Kafka) and retries with backoff',
      ['partition', 'waiting_for'],
    ),
    transactions: counter(
      registry,
      'doubletap_aggregator_transactions_total',
      'output transactions (CountChanged, dead letters) by outcome: committed, failed (producer replaced), fenced',
      ['outcome'],
    ),
    standbyPartitions: gauge(registry, 'doubletap_aggregator_standby_partitions', 'partitions this process keeps a standby store of (ADR 0018)'),
    standbyLag: gauge(
      registry,
      'doubletap_aggregator_standby_lag_records',
      'changelog records a standby store is behind its changelog partition end (at its last fetch)',
      ['partition'],
    ),
    promotions: counter(
      registry,
      'doubletap_aggregator_standby_promotions_total',
      'standby stores taken over by their task: promoted (tail read only) or discarded (taken without it)',
      ['outcome'],
    ),
    promotionSeconds: histogram(
      registry,
      'doubletap_aggregator_standby_promotion_seconds',
      'time to promote a standby: read the changelog tail after its position and apply it',
      [],
      [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    ),
    promotionRecords: gauge(
      registry,
      'doubletap_aggregator_standby_promotion_records',
      'changelog records read by the last promotion of a partition (the tail after the standby position)',
      ['partition'],
    ),
    restoreSeconds: histogram(
      registry,
      'doubletap_aggregator_changelog_restore_seconds',
      'time to restore a store from its changelog partition (read it whole, write it to an empty store)',
      [],
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    ),
    lastRestoreSeconds: gauge(
      registry,
      'doubletap_aggregator_changelog_restore_last_seconds',
      'duration of the last changelog restore of a partition',
      ['partition'],
    ),
    lastRestoreRecords: gauge(
      registry,
      'doubletap_aggregator_changelog_restore_last_records',
      'changelog records read by the last changelog restore of a partition',
      ['partition'],
    ),
    takeoverSeconds: histogram(
      registry,
      'doubletap_aggregator_partition_takeover_seconds',
      'time from a partition being assigned to this process until it is live (fenced, restored or caught up, counts published)',
      [],
      [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    ),
    lastTakeoverSeconds: gauge(
      registry,
      'doubletap_aggregator_partition_takeover_last_seconds',
      'the last takeover of a partition: from its assignment to this process until it was live',
      ['partition'],
    ),
  };
}

/** Metrics (and the dead-letter log line) of one applied batch. */
export function recordBatch(
  metrics: AggregatorMetrics,
  logger: Logger,
  partition: number,
  b: { fold: BatchFold; dead: readonly DeadRecord[]; catchingUp: boolean; records: number; lastOffset: number; highWatermark: number; started: bigint },
): void {
  const labels = { partition: String(partition) };
  if (b.fold.applied > 0) metrics.events.inc({ ...labels, outcome: 'applied' }, b.fold.applied);
  if (b.fold.noOps > 0) metrics.events.inc({ ...labels, outcome: 'noop' }, b.fold.noOps);
  if (b.dead.length > 0) {
    metrics.events.inc({ ...labels, outcome: 'dead_letter' }, b.dead.length);
    for (const d of b.dead) metrics.deadLetters.inc({ reason: d.reason });
    const first = b.dead[0];
    logger.warn(
      { partition, deadLetters: b.dead.length, first: { offset: first.record.offset, reason: first.reason, detail: first.detail } },
      'records dead-lettered',
    );
  }
  if (!b.catchingUp) metrics.countChanged.inc(b.fold.changes.length);
  metrics.batchSize.observe(b.records);
  metrics.storedOffset.set(labels, b.lastOffset);
  metrics.lag.set(labels, Math.max(0, b.highWatermark - 1 - b.lastOffset));
  metrics.applyLatency.observe(Number(process.hrtime.bigint() - b.started) / 1e9);
}
