import { labelledValues, scrapeMetrics, sumsIn } from '@doubletap/testing';

/** The api's produce counters and its admission refusals by signal, from one scrape of its /metrics. */
export interface ApiProduceCounters {
  requests: number;
  seconds: number;
  records: number;
  refusedBy: Record<string, number>;
}

/** What the api produced between two readings. */
export interface Produced {
  /** produce requests sent */
  requests: number;
  recordsPerRequest: number;
  /** mean acks=all round trip, ms */
  meanMs: number;
  /** likes and unlikes refused with 503 overloaded, by the signal that refused them (only those > 0) */
  refusedBy: Record<string, number>;
}

export async function apiProduceCounters(url: string): Promise<ApiProduceCounters> {
  const text = await scrapeMetrics(url);
  const [requests, seconds, records] = sumsIn(text, [
    'doubletap_api_produce_seconds_count',
    'doubletap_api_produce_seconds_sum',
    'doubletap_api_produce_batch_size_sum',
  ]);
  const refusedBy = Object.fromEntries(labelledValues(text, 'doubletap_api_overload_refusals_total', 'reason'));
  return { requests, seconds, records, refusedBy };
}

export function producedBetween(before: ApiProduceCounters, after: ApiProduceCounters): Produced {
  const requests = after.requests - before.requests;
  const refusedBy = Object.fromEntries(
    Object.entries(after.refusedBy)
      .map(([reason, n]) => [reason, n - (before.refusedBy[reason] ?? 0)] as const)
      .filter(([, n]) => n > 0),
  );
  return {
    requests,
    recordsPerRequest: requests > 0 ? Math.round(((after.records - before.records) / requests) * 10) / 10 : 0,
    meanMs: requests > 0 ? Math.round(((after.seconds - before.seconds) / requests) * 1e5) / 100 : 0,
    refusedBy,
  };
}

/** The aggregator's output: committed transactions and applied batches, from one scrape of its /metrics. */
export interface AggregatorOutputCounters {
  transactions: number;
  batches: number;
  records: number;
}

/** What the aggregator committed between two readings. */
export interface Committed {
  /** output transactions committed (one per applied batch that had output) */
  transactions: number;
  /** batches applied */
  batches: number;
  recordsPerBatch: number;
}

export async function aggregatorOutputCounters(url: string): Promise<AggregatorOutputCounters> {
  const text = await scrapeMetrics(url);
  const [batches, records] = sumsIn(text, ['doubletap_aggregator_batch_size_count', 'doubletap_aggregator_batch_size_sum']);
  return { transactions: labelledValues(text, 'doubletap_aggregator_transactions_total', 'outcome').get('committed') ?? 0, batches, records };
}

export function committedBetween(before: AggregatorOutputCounters, after: AggregatorOutputCounters): Committed {
  const batches = after.batches - before.batches;
  return {
    transactions: after.transactions - before.transactions,
    batches,
    recordsPerBatch: batches > 0 ? Math.round(((after.records - before.records) / batches) * 10) / 10 : 0,
  };
}
