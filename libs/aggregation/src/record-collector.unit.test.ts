import { PartitionLostError, RecordCollector, type OwnershipGuard } from './record-collector';
import { FakeCodec, FakeKafkaOutput, freshMetrics, quietLogger } from './testing/fakes';
import type { Kafka } from '@doubletap/kafka';

const topics = { events: 'e', counts: 'c', deadLetter: 'd' };

function collector(output: FakeKafkaOutput, blocked: Array<string | undefined> = []) {
  return new RecordCollector({
    kafka: {} as Kafka,
    openSender: output.open,
    transactionalId: 'group-p0',
    partition: 0,
    topics,
    codec: new FakeCodec(),
    logger: quietLogger,
    metrics: freshMetrics(),
    backoffMs: { initial: 1, max: 2 },
    onBlocked: (what) => blocked.push(what),
  });
}

const ours = (confirm: () => Promise<void> = async () => undefined): OwnershipGuard & { confirms: number } => {
  const g = {
    confirms: 0,
    confirm: async () => {
      g.confirms++;
      await confirm();
    },
    active: () => true,
  };
  return g;
};

describe('RecordCollector', () => {
  it('commits the records of a batch in one transaction', async () => {
    const output = new FakeKafkaOutput();
    const c = collector(output);
    await c.open(ours());
    await c.send([{ topic: 'c', partition: 0, key: 'p/0', value: Buffer.from('x') }], ours());
    expect(output.committed).toHaveLength(1);
    expect(output.opened).toBe(1);
  });

  it('after a failed transaction it never reuses the producer: confirms ownership, opens a new one, sends the same records', async () => {
    const output = new FakeKafkaOutput();
    const blocked: Array<string | undefined> = [];
    const c = collector(output, blocked);
    const guard = ours();
    await c.open(guard);
    output.failNext = 2;
    const recs = [{ topic: 'c', partition: 0, key: 'p/0', value: Buffer.from('x') }];
    await c.send(recs, guard);
    expect(output.opened).toBe(3); // the first, then one per failure
    expect(guard.confirms).toBe(2);
    expect(output.committed).toEqual([recs]);
    expect(blocked).toEqual(['kafka', 'kafka', undefined]);
  });

  it('fenced, and the group says the partition is not ours any more: PartitionLostError, nothing re-opened', async () => {
    const output = new FakeKafkaOutput();
    const c = collector(output);
    await c.open(ours());
    output.fenced = true;
    const guard = ours(async () => {
      throw new Error('The coordinator is rebalancing');
    });
    await expect(c.send([{ topic: 'c', key: 'k', value: null }], guard)).rejects.toBeInstanceOf(PartitionLostError);
    expect(output.opened).toBe(1);
    expect(output.committed).toEqual([]);
  });

  it('a batch given up while blocked leaves nothing blocked once the next batch commits at its first attempt', async () => {
    const output = new FakeKafkaOutput();
    const blocked: Array<string | undefined> = [];
    const c = collector(output, blocked);
    await c.open(ours());
    output.failNext = 1;
    const unconfirmed = ours(async () => {
      throw new Error('The coordinator is loading and hence cannot process requests');
    });
    const recs = [{ topic: 'c', partition: 0, key: 'p/0', value: Buffer.from('x') }];
    await expect(c.send(recs, unconfirmed)).rejects.toBeInstanceOf(PartitionLostError);
    expect(blocked).toEqual(['kafka']);
    await c.send(recs, ours());
    expect(output.committed).toEqual([recs]);
    expect(blocked).toEqual(['kafka', undefined]);
  });

  it('a partition being given up stops the retries', async () => {
    const output = new FakeKafkaOutput();
    const c = collector(output);
    await c.open(ours());
    output.failNext = 100;
    let active = true;
    const guard: OwnershipGuard = { confirm: async () => undefined, active: () => active };
    const sending = c.send([{ topic: 'c', key: 'k', value: null }], guard);
    setTimeout(() => (active = false), 20);
    await expect(sending).rejects.toBeInstanceOf(PartitionLostError);
  });

  it('cuts a dead letter down to what the broker accepts and says so in its headers', () => {
    const c = collector(new FakeKafkaOutput());
    const huge = { partition: 0, offset: 7, key: 'k', value: Buffer.alloc(3 * 1024 * 1024, 1), timestamp: 0, headers: {} };
    const dl = c.deadLetter(huge, 'undecodable', 'x'.repeat(5000));
    expect(dl.topic).toBe('d');
    expect(dl.value!.length).toBeLessThan(1024 * 1024);
    expect(dl.headers).toMatchObject({
      reason: 'undecodable',
      truncated: 'true',
      'original-bytes': String(3 * 1024 * 1024),
      'source-topic': 'e',
      'source-partition': '0',
      'source-offset': '7',
    });
    expect(dl.headers!.detail.length).toBe(1000);
  });
});
