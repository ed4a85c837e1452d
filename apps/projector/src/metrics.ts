import { counter, createMetricsRegistry, gauge, histogram, type Registry } from '@doubletap/observability';

/** The projector's Prometheus metrics. */
export function projectorMetrics(registry: Registry = createMetricsRegistry('projector')) {
  return {
    registry,
    records: counter(
      registry,
      'doubletap_projector_records_total',
      'CountChanged records handled, by outcome (applied | stale | invalid | tombstone | skipped: not applied because the partition was being positioned or had them already)',
      ['outcome'],
    ),
    postsChanged: counter(registry, 'doubletap_projector_posts_changed_total', 'post totals changed (one PUBLISH each)'),
    batches: counter(registry, 'doubletap_projector_batches_total', 'batches applied to Redis'),
    batchSeconds: histogram(
      registry,
      'doubletap_projector_batch_seconds',
      'time from receiving a batch to Redis having applied it (includes retries)',
    ),
    redisErrors: counter(registry, 'doubletap_projector_redis_errors_total', 'failed Redis apply attempts (retried)'),
    decodeRetries: counter(
      registry,
      'doubletap_projector_decode_retries_total',
      'records whose decoding failed for a transient reason (registry unreachable) and was retried',
    ),
    recordAgeSeconds: histogram(
      registry,
      'doubletap_projector_record_age_seconds',
      'age of a CountChanged record (Kafka timestamp) when its batch was applied',
      [],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    ),
    lag: gauge(registry, 'doubletap_projector_lag_records', 'records behind the log end, per partition', ['partition']),
    blocked: gauge(registry, 'doubletap_projector_blocked', '1 while a batch waits for Redis to come back'),
    healing: gauge(
      registry,
      'doubletap_projector_healing',
      '1 while this projector heals the partition (its progress was missing in Redis: data loss or a fresh read side), else 0',
      ['partition'],
    ),
    heals: counter(registry, 'doubletap_projector_heals_total', 'heals started: a partition replayed from the log start into Redis'),
    healedRecords: counter(registry, 'doubletap_projector_healed_records_total', 'records applied by heals'),
    masterLosses: counter(
      registry,
      'doubletap_projector_master_losses_total',
      'Redis Cluster masters found without their marker (they lost their data, ADR 0025) by a check or a batch of this projector that then removed the progress: every partition heals',
    ),
    reseeks: counter(
      registry,
      'doubletap_projector_reseeks_total',
      'partitions re-positioned because Redis held other progress than this projector expected, by reason',
      ['reason'],
    ),
  };
}

export type ProjectorMetrics = ReturnType<typeof projectorMetrics>;
