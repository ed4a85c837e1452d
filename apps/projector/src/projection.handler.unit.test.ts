import { InvalidEventError, type CountChanged } from '@doubletap/events';
import type { BatchContext, ConsumedRecord } from '@doubletap/kafka';
import { createLogger, Registry } from '@doubletap/observability';
import type { ApplyResult, CountChange } from '@doubletap/redis';
import { projectorMetrics } from './metrics';
import { BatchAbandonedError, ProjectionHandler } from './projection.handler';

const record = (offset: number, value: string | null): ConsumedRecord => ({
  partition: 0,
  offset,
  key: null,
  value: value === null ? null : Buffer.from(value),
  timestamp: Date.now(),
  headers: {},
});

const ctx = (overrides: Partial<BatchContext> = {}): BatchContext => ({
  heartbeat: jest.fn(async () => undefined),
  isRunning: () => true,
  isStale: () => false,
  highWatermark: 10,
  lastOffset: 9,
  holdOffsets: () => undefined,
  ...overrides,
});

function setup(apply: (c: CountChange[]) => Promise<ApplyResult>) {
  const metrics = projectorMetrics(new Registry());
  const decode = async (value: Buffer): Promise<CountChanged> => {
    const text = value.toString();
    if (text === 'garbage') throw new InvalidEventError('undecodable', 'undecodable Avro: test');
    const [postId, partition, count, sourceOffset] = text.split(',');
    return { postId, partition: Number(partition), count: Number(count), sourceOffset: Number(sourceOffset) };
  };
  const handler = new ProjectionHandler({
    decode,
    apply,
    metrics,
    logger: createLogger('test', 'silent'),
    backoffMs: { initial: 1, max: 5 },
  });
  return { handler, metrics };
}

const value = async (metrics: ReturnType<typeof projectorMetrics>, name: string, labels: Record<string, string> = {}) => {
  const m = (await metrics.registry.getSingleMetric(name)!.get()).values.find((v) =>
    Object.entries(labels).every(([k, l]) => v.labels[k] === l),
  );
  return m?.value ?? 0;
};

describe('ProjectionHandler', () => {
  it('skips undecodable records and tombstones, applies the rest in one call', async () => {
    const apply = jest.fn(async (c: CountChange[]) => ({ changed: [], applied: c.length, stale: 0 }));
    const { handler, metrics } = setup(apply);
    await handler.handleBatch(0, [record(0, 'a,0,1,5'), record(1, 'garbage'), record(2, null), record(3, 'b,0,2,6')], ctx());
    expect(apply).toHaveBeenCalledTimes(1);
    expect(apply.mock.calls[0][0]).toEqual([
      { postId: 'a', partition: 0, count: 1, sourceOffset: 5 },
      { postId: 'b', partition: 0, count: 2, sourceOffset: 6 },
    ]);
    expect(await value(metrics, 'doubletap_projector_records_total', { outcome: 'invalid' })).toBe(1);
    expect(await value(metrics, 'doubletap_projector_records_total', { outcome: 'tombstone' })).toBe(1);
    expect(await value(metrics, 'doubletap_projector_records_total', { outcome: 'applied' })).toBe(2);
    expect(await value(metrics, 'doubletap_projector_lag_records', { partition: '0' })).toBe(6);
  });

  it('does not resolve while Redis fails: retries with heartbeats until it works', async () => {
    let failures = 5;
    const apply = jest.fn(async (c: CountChange[]) => {
      if (failures-- > 0) throw new Error('Stream isn\'t writeable');
      return { changed: [], applied: c.length, stale: 0 };
    });
    const { handler, metrics } = setup(apply);
    const heartbeat = jest.fn(async () => undefined);
    await handler.handleBatch(0, [record(0, 'a,0,1,5')], ctx({ heartbeat }));
    expect(apply).toHaveBeenCalledTimes(6);
    expect(heartbeat).toHaveBeenCalledTimes(5);
    expect(await value(metrics, 'doubletap_projector_redis_errors_total')).toBe(5);
    expect(await value(metrics, 'doubletap_projector_blocked')).toBe(0);
  });

  it('gives the batch up uncommitted (rejects) when the consumer stops during an outage', async () => {
    let running = true;
    const apply = jest.fn(async (): Promise<ApplyResult> => {
      running = apply.mock.calls.length < 3;
      throw new Error('ECONNREFUSED');
    });
    const { handler } = setup(apply);
    await expect(handler.handleBatch(0, [record(0, 'a,0,1,5')], ctx({ isRunning: () => running }))).rejects.toThrow(
      BatchAbandonedError,
    );
    expect(apply).toHaveBeenCalledTimes(3);
  });

  it('lets a heartbeat failure (rebalance) propagate instead of looping', async () => {
    const apply = jest.fn(async (): Promise<ApplyResult> => {
      throw new Error('down');
    });
    const { handler } = setup(apply);
    const rebalancing = ctx({ heartbeat: () => Promise.reject(new Error('The group is rebalancing')) });
    await expect(handler.handleBatch(0, [record(0, 'a,0,1,5')], rebalancing)).rejects.toThrow('rebalancing');
  });
});
