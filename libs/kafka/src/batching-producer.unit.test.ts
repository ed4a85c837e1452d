import { Partitioners, type PartitionMetadata } from 'kafkajs';
import {
  BatchingProducer,
  type BatchingOptions,
  type OutboundMessage,
  ProducerOverloadedError,
  ProducerUnavailableError,
} from '@doubletap/kafka';
import { keyHashPartitioner, PartitionCountMismatchError, pinnedKeyHashPartitioner } from './batching-producer';

/** A fake Kafka: records every batch and lets the test acknowledge or fail it. */
class FakeSink {
  readonly batches: { messages: string[]; ack: () => void; fail: (e: Error) => void }[] = [];
  send = (messages: OutboundMessage[]): Promise<void> =>
    new Promise<void>((ack, fail) => this.batches.push({ messages: messages.map((m) => m.key), ack, fail }));
  get sizes(): number[] {
    return this.batches.map((b) => b.messages.length);
  }
}

const msg = (key: string): OutboundMessage => ({ key, value: Buffer.from(key) });
const settle = <T>(p: Promise<T>) =>
  p.then(
    () => 'acked' as const,
    (e: Error) => e,
  );

describe('BatchingProducer', () => {
  let sink: FakeSink;
  const make = (o: Partial<BatchingOptions> = {}) =>
    new BatchingProducer(sink.send, { lingerMs: 5, batchMaxSize: 10, queueMax: 100, timeoutMs: 1000, ...o });

  beforeEach(() => {
    jest.useFakeTimers();
    sink = new FakeSink();
  });
  afterEach(() => jest.useRealTimers());

  it('coalesces concurrent sends into one batch after the linger and answers each caller on ack', async () => {
    const producer = make();
    const answers = ['a', 'b', 'c'].map((k) => settle(producer.send(msg(k))));
    expect(sink.batches).toHaveLength(0);
    await jest.advanceTimersByTimeAsync(5);
    expect(sink.batches.map((b) => b.messages)).toEqual([['a', 'b', 'c']]);
    expect(producer.depth).toBe(3);
    sink.batches[0].ack();
    expect(await Promise.all(answers)).toEqual(['acked', 'acked', 'acked']);
    expect(producer.depth).toBe(0);
  });

  it('sends a full batch at once, keeps one batch in flight, and sends the rest right after the ack', async () => {
    const producer = make();
    const answers = Array.from({ length: 25 }, (_, i) => settle(producer.send(msg(`k${i}`))));
    expect(sink.sizes).toEqual([10]); // full: no linger
    await jest.advanceTimersByTimeAsync(50);
    expect(sink.sizes).toEqual([10]); // still one in flight
    sink.batches[0].ack();
    await jest.advanceTimersByTimeAsync(0);
    expect(sink.sizes).toEqual([10, 10]);
    sink.batches[1].ack();
    await jest.advanceTimersByTimeAsync(0);
    expect(sink.sizes).toEqual([10, 10, 5]);
    sink.batches[2].ack();
    expect(new Set(await Promise.all(answers))).toEqual(new Set(['acked']));
    expect(sink.batches.flatMap((b) => b.messages)).toEqual(Array.from({ length: 25 }, (_, i) => `k${i}`));
  });

  it('rejects at once with ProducerOverloadedError when queueMax messages are pending', async () => {
    const producer = make({ queueMax: 3 });
    const first = [1, 2, 3].map((i) => settle(producer.send(msg(`k${i}`))));
    const overflow = await settle(producer.send(msg('k4')));
    expect(overflow).toBeInstanceOf(ProducerOverloadedError);
    await jest.advanceTimersByTimeAsync(5);
    expect(sink.batches.flatMap((b) => b.messages)).toEqual(['k1', 'k2', 'k3']);
    sink.batches[0].ack();
    expect(await Promise.all(first)).toEqual(['acked', 'acked', 'acked']);
  });

  it('answers 503 for queued messages at their deadline and never hands them to Kafka afterwards', async () => {
    const producer = make({ timeoutMs: 100 });
    const inFlight = settle(producer.send(msg('first')));
    await jest.advanceTimersByTimeAsync(5);
    expect(sink.sizes).toEqual([1]);
    const queued = settle(producer.send(msg('second')));
    await jest.advanceTimersByTimeAsync(100);
    const answer = await queued;
    expect(answer).toBeInstanceOf(ProducerUnavailableError);
    expect((answer as ProducerUnavailableError).inDoubt).toBe(false);
    expect((answer as Error).message).toContain('it was not sent');
    // the in-flight batch is past its deadline but still waits for Kafka's verdict: late ack = 202
    let early: unknown = 'pending';
    void inFlight.then((v) => (early = v));
    await jest.advanceTimersByTimeAsync(0);
    expect(early).toBe('pending');
    sink.batches[0].ack();
    expect(await inFlight).toBe('acked');
    await jest.advanceTimersByTimeAsync(1000);
    expect(sink.batches.flatMap((b) => b.messages)).toEqual(['first']);
  });

  it('fails a whole batch once when the send fails, without retrying it', async () => {
    const producer = make();
    const answers = ['a', 'b'].map((k) => settle(producer.send(msg(k))));
    await jest.advanceTimersByTimeAsync(5);
    sink.batches[0].fail(new Error('NOT_ENOUGH_REPLICAS'));
    for (const a of await Promise.all(answers)) {
      expect(a).toBeInstanceOf(ProducerUnavailableError);
      expect((a as Error).message).toContain('NOT_ENOUGH_REPLICAS');
    }
    await jest.advanceTimersByTimeAsync(5000);
    expect(sink.batches).toHaveLength(1);
  });

  it('rejects at once, without sending, while the sink reports it is unavailable', async () => {
    let reason: string | undefined = 'not connected';
    const producer = make({ unavailable: () => reason });
    const answer = await settle(producer.send(msg('a')));
    expect(answer).toBeInstanceOf(ProducerUnavailableError);
    expect((answer as Error).message).toBe('not connected');
    reason = undefined;
    const later = settle(producer.send(msg('b')));
    reason = 'connection lost';
    await jest.advanceTimersByTimeAsync(5); // lost before the linger ended: rejected, never sent
    expect(await later).toBeInstanceOf(ProducerUnavailableError);
    expect(sink.batches).toHaveLength(0);
  });

  it('answers in doubt when Kafka never settles the send, after twice the timeout', async () => {
    const producer = make({ timeoutMs: 100 });
    const answer = settle(producer.send(msg('a')));
    await jest.advanceTimersByTimeAsync(5 + 199);
    let state: unknown = 'pending';
    void answer.then((v) => (state = v));
    await jest.advanceTimersByTimeAsync(0);
    expect(state).toBe('pending');
    await jest.advanceTimersByTimeAsync(1);
    const result = await answer;
    expect(result).toBeInstanceOf(ProducerUnavailableError);
    expect((result as ProducerUnavailableError).inDoubt).toBe(true);
  });

  it('tells the sink to retire its producer when a batch is in doubt, before the next batch goes out', async () => {
    const retired: string[] = [];
    const producer = make({ timeoutMs: 100, onInDoubt: (why) => retired.push(why) });
    void settle(producer.send(msg('a')));
    await jest.advanceTimersByTimeAsync(5 + 200);
    expect(retired).toHaveLength(1);
    expect(retired[0]).toMatch(/outcome unknown/);
    // the next batch is handed over only after the sink was told (it then answers from its new producer)
    void settle(producer.send(msg('b')));
    await jest.advanceTimersByTimeAsync(5);
    expect(sink.batches.map((b) => b.messages)).toEqual([['a'], ['b']]);
    expect(retired).toHaveLength(1);
  });

  it('with lingerMs 0 sends what arrived in the same turn of the event loop together, without a timer', async () => {
    jest.useRealTimers();
    const producer = make({ lingerMs: 0 });
    const first = ['a', 'b', 'c'].map((k) => settle(producer.send(msg(k))));
    expect(sink.batches).toHaveLength(0); // not synchronously: the rest of this turn may add more
    await new Promise((r) => setImmediate(r));
    expect(sink.sizes).toEqual([3]);
    const second = ['d', 'e'].map((k) => settle(producer.send(msg(k))));
    await new Promise((r) => setImmediate(r));
    expect(sink.sizes).toEqual([3]); // one batch in flight: the next waits for the ack
    sink.batches[0].ack();
    expect(await Promise.all(first)).toEqual(['acked', 'acked', 'acked']);
    await new Promise((r) => setImmediate(r));
    expect(sink.batches.map((b) => b.messages)).toEqual([
      ['a', 'b', 'c'],
      ['d', 'e'],
    ]);
    sink.batches[1].ack();
    expect(await Promise.all(second)).toEqual(['acked', 'acked']);
    // close() while an immediate is pending sends at once and the immediate finds nothing to do
    const last = settle(producer.send(msg('f')));
    const closing = producer.close();
    expect(sink.sizes).toEqual([3, 2, 1]);
    sink.batches[2].ack();
    await closing;
    expect(await last).toBe('acked');
    await new Promise((r) => setImmediate(r));
    expect(sink.sizes).toEqual([3, 2, 1]);
  });

  it('close() sends what is queued without waiting for the linger, answers it, and refuses new sends', async () => {
    const producer = make({ lingerMs: 50 });
    const answers = ['a', 'b'].map((k) => settle(producer.send(msg(k))));
    let closed = false;
    const closing = producer.close().then(() => (closed = true));
    expect(sink.sizes).toEqual([2]);
    expect(await settle(producer.send(msg('c')))).toBeInstanceOf(ProducerUnavailableError);
    await jest.advanceTimersByTimeAsync(0);
    expect(closed).toBe(false);
    sink.batches[0].ack();
    await closing;
    expect(await Promise.all(answers)).toEqual(['acked', 'acked']);
    expect(sink.batches).toHaveLength(1);
  });
});

describe('keyHashPartitioner', () => {
  const metadata = (n: number): PartitionMetadata[] =>
    Array.from({ length: n }, (_, i) => ({
      partitionId: i,
      leader: 0,
      replicas: [0],
      isr: [0],
      partitionErrorCode: 0,
    }));

  it('puts every key where kafkajs DefaultPartitioner (Java-compatible murmur2) puts it', () => {
    const ours = keyHashPartitioner();
    const kafkajs = Partitioners.DefaultPartitioner();
    const got: number[] = [];
    const want: number[] = [];
    for (const n of [1, 3, 12, 64]) {
      const partitionMetadata = metadata(n);
      for (let i = 0; i < 1500; i++) {
        const text = `post_${i % 997}/bench_user_${i}${'é✓'.repeat(i % 3)}${'x'.repeat(i % 5)}`;
        for (const key of [text, Buffer.from(text)]) {
          const args = { topic: 't', partitionMetadata, message: { key, value: null } };
          got.push(ours(args));
          want.push(kafkajs(args));
        }
      }
    }
    expect(got).toEqual(want);
  });

  it('refuses to place a keyed record when the topic has another partition count than the pinned one', () => {
    const pinned = pinnedKeyHashPartitioner(12)();
    expect(pinned({ topic: 't', partitionMetadata: metadata(12), message: { key: 'p/u', value: null } })).toBe(
      keyHashPartitioner()({ topic: 't', partitionMetadata: metadata(12), message: { key: 'p/u', value: null } }),
    );
    expect(() => pinned({ topic: 't', partitionMetadata: metadata(16), message: { key: 'p/u', value: null } })).toThrow(
      PartitionCountMismatchError,
    );
    expect(() => pinned({ topic: 't', partitionMetadata: metadata(16), message: { key: 'p/u', value: null } })).toThrow(
      /t has 16 partitions but 12 are pinned/,
    );
  });

  it('honours an explicit partition and spreads keyless messages over the partitions', () => {
    const ours = keyHashPartitioner();
    const partitionMetadata = metadata(12);
    expect(ours({ topic: 't', partitionMetadata, message: { key: 'k', value: null, partition: 7 } })).toBe(7);
    const seen = new Set(
      Array.from({ length: 48 }, () => ours({ topic: 't', partitionMetadata, message: { value: null } })),
    );
    expect(seen.size).toBe(12);
  });
});
