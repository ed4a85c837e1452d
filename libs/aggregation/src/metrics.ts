import { counter, gauge, histogram, type Counter, type Gauge, type Histogram, type Registry } from '@doubletap/observability';

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
  };
}
