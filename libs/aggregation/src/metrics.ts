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
      'time to apply one batch: decode, multi-get, decide, atomic write, CountChanged acknowledged',
    ),
    restoreProgress: gauge(
      registry,
      'doubletap_aggregator_restore_progress_ratio',
      'progress of a partition restoring its store from the log (0..1; 1 = done)',
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
      'CountChanged records acknowledged by Kafka',
    ),
    continuitySeeks: counter(
      registry,
      'doubletap_aggregator_continuity_seeks_total',
      'batches not applied because they did not continue the stored offset (the partition was re-positioned)',
      ['partition'],
    ),
    ownedPartitions: gauge(registry, 'doubletap_aggregator_owned_partitions', 'input partitions owned by this process'),
  };
}
