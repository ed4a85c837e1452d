import { Gauge, histogram, type Registry } from '@doubletap/observability';
import type { BatchObserver } from '@doubletap/kafka';

/** The producer's metrics: batch sizes and durations by outcome, and the queue depth at scrape time. */
export function produceMetrics(metrics: Registry, depth: () => number): BatchObserver {
  const batchSize = histogram(
    metrics,
    'doubletap_api_produce_batch_size',
    'messages per produce request',
    ['outcome'],
    [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
  );
  const batchSeconds = histogram(
    metrics,
    'doubletap_api_produce_seconds',
    'duration of one produce request (acks=all)',
    ['outcome'],
  );
  new Gauge({
    name: 'doubletap_api_produce_queue_depth',
    help: 'messages waiting for or in a produce request',
    registers: [metrics],
    collect() {
      this.set(depth());
    },
  });
  return {
    batch: (size, seconds, ok) => {
      const outcome = ok ? 'acked' : 'failed';
      batchSize.observe({ outcome }, size);
      batchSeconds.observe({ outcome }, seconds);
    },
  };
}
