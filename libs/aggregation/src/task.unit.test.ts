import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from '@doubletap/kafka';
import { expectedCounts, homePartition } from '@doubletap/likes';
import { PartitionStore } from '@doubletap/store';
import { PartitionLostError } from './record-collector';
import { PartitionTask } from './task';
import {
  batchContext,
  FakeCodec,
  FakeControl,
  FakeInput,
  FakeKafkaOutput,
  freshMetrics,
  likeEvent,
  quietLogger,
  records,
} from './testing/fakes';

const PARTITIONS = 4;
const P = 1;
const topics = { events: 'likes.events', counts: 'likes.counts', deadLetter: 'likes.dlq' };

/** users whose (post, user) lives on partition P */
const usersOnP = (post: string, n: number): string[] => {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) if (homePartition(post, `u${i}`, PARTITIONS) === P) out.push(`u${i}`);
  return out;
};

function history(n: number, seed: number) {
  const users: Array<[string, string]> = [...usersOnP('a', 30).map((u): [string, string] => ['a', u]), ...usersOnP('b', 30).map((u): [string, string] => ['b', u])];
  let s = seed;
  const rnd = (k: number) => ((s = (s * 1103515245 + 12345) % 2147483648), s % k);
  return Array.from({ length: n }, () => {
    const [post, user] = users[rnd(users.length)];
    return likeEvent(post, user, (rnd(3) === 0 ? 'UNLIKE' : 'LIKE'));
  });
}

describe('PartitionTask', () => {
  let dir: string;
  let output: FakeKafkaOutput;
  let input: FakeInput;
  let control: FakeControl;
  let codec: FakeCodec;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dt-task-'));
    output = new FakeKafkaOutput();
    input = new FakeInput(topics.events, PARTITIONS);
    control = new FakeControl();
    codec = new FakeCodec();
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const task = (metrics = freshMetrics(), backoffMs = { initial: 1, max: 5 }) =>
    new PartitionTask({
      partition: P,
      pinned: PARTITIONS,
      dataDir: dir,
      topics,
      codec,
      kafka: {} as Kafka,
      openSender: output.open,
      transactionalId: `group-p${P}`,
      input,
      control: () => control,
      logger: quietLogger,
      metrics,
      backoffMs,
    });
  const take = async (t: PartitionTask) => t.take({ identity: (await input.identity())!, offsets: (await input.offsets())[P] });
  const counts = () => output.of(topics.counts).map((r) => FakeCodec.countOf(r.value));
  /** the counts a reader of likes.counts ends with: per post, the record with the highest source offset */
  const served = () => {
    const latest = new Map<string, { count: number; sourceOffset: number }>();
    for (const c of counts()) if ((latest.get(c.postId)?.sourceOffset ?? -1) <= c.sourceOffset) latest.set(c.postId, c);
    return new Map([...latest].map(([k, v]) => [k, v.count]));
  };

  it('catching up a fresh store publishes nothing per batch, then every touched post once, stamped with the final offset', async () => {
    const events = history(300, 1);
    input.set(P, 0, events.length);
    const t = task();
    await take(t);
    expect(control.seeks).toEqual([[P, 0]]);
    expect(t.phase.kind).toBe('catching-up');
    for (let i = 0; i < events.length; i += 70) {
      const batch = records(P, i, events.slice(i, i + 70));
      await t.handle(batch, batchContext({ highWatermark: events.length }));
      if (i + 70 < events.length) expect(counts()).toEqual([]);
    }
    expect(t.phase.kind).toBe('live');
    expect(counts().map((c) => c.sourceOffset)).toEqual([299, 299]);
    expect(served()).toEqual(expectedCounts(events));
    expect(await t.openStore!.dirtyCount()).toBe(0);
    await t.release();
  });

  it('records how long the partition took from its assignment to live: after its catch-up, or at once when up to date', async () => {
    const metrics = freshMetrics();
    const takeover = async () => (await metrics.lastTakeoverSeconds.get()).values.find((v) => v.labels.partition === String(P))?.value;
    const events = history(100, 7);
    input.set(P, 0, events.length);
    const t = task(metrics);
    await take(t);
    expect(await takeover()).toBeUndefined(); // catching up: not live yet
    await new Promise((r) => setTimeout(r, 30));
    await t.handle(records(P, 0, events), batchContext({ highWatermark: events.length }));
    expect(t.phase.kind).toBe('live');
    const caughtUp = await takeover();
    expect(caughtUp).toBeGreaterThanOrEqual(0.03);
    expect(caughtUp).toBeLessThan(30);
    await t.release();
    // taken again by a new task with the store up to date: live within the take
    const again = task(metrics);
    await take(again);
    expect(again.phase.kind).toBe('live');
    expect(await takeover()).toBeLessThan(caughtUp!);
    expect((await metrics.takeoverSeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(2);
    await again.release();
  });

  it('live: each batch publishes the touched posts (output committed before the store moves)', async () => {
    const t = task();
    await take(t);
    expect(t.phase.kind).toBe('live');
    const events = history(120, 2);
    let sends = 0;
    const open = output.open;
    output.open = async () => {
      const sender = await open();
      return {
        get usable() {
          return sender.usable;
        },
        send: async (r) => {
          sends++;
          // at the moment of the output, the store has not applied the batch yet
          expect(t.storedOffset()).toBe(sends === 1 ? undefined : (sends - 1) * 40 - 1);
          await sender.send(r);
        },
        close: () => sender.close(),
      };
    };
    for (let i = 0; i < 120; i += 40) await t.handle(records(P, i, events.slice(i, i + 40)), batchContext());
    expect(t.storedOffset()).toBe(119);
    expect(served()).toEqual(expectedCounts(events));
    await t.release();
  });

  it('a failed output transaction leaves the store where it was; the retry on a new producer applies it once', async () => {
    const t = task();
    await take(t);
    output.failNext = 2;
    const events = history(50, 3);
    await t.handle(records(P, 0, events), batchContext());
    expect(output.opened).toBe(3);
    expect(t.storedOffset()).toBe(49);
    expect(served()).toEqual(expectedCounts(events));
    // the batch delivered again (a rebalance) changes nothing
    await t.handle(records(P, 0, events), batchContext());
    expect(output.committed).toHaveLength(1);
    await t.release();
  });

  it('waits for the schema registry (never dead-letters), then applies', async () => {
    const t = task();
    await take(t);
    codec.registryDown = true;
    setTimeout(() => (codec.registryDown = false), 30);
    const events = history(10, 4);
    await t.handle(records(P, 0, events), batchContext());
    expect(output.of(topics.deadLetter)).toEqual([]);
    expect(t.storedOffset()).toBe(9);
    expect(t.blocked).toBeUndefined();
    await t.release();
  });

  it('dead letters go out (in the same transaction) in every phase, before the store moves past them', async () => {
    input.set(P, 0, 3);
    const t = task();
    await take(t);
    await t.handle(
      [...records(P, 0, [likeEvent('a', usersOnP('a', 1)[0], 'LIKE')]), ...records(P, 1, [{ key: 'x/y', value: Buffer.from('garbage!') }, { key: 'x/z', value: null }])],
      batchContext(),
    );
    expect(output.of(topics.deadLetter).map((r) => r.headers!['source-offset'])).toEqual(['1', '2']);
    expect(t.phase.kind).toBe('live');
    await t.release();
  });

  it('a gap over deleted records stops the partition with a reason; it is paused and nothing is committed', async () => {
    const t = task();
    await take(t);
    await t.handle(records(P, 0, history(5, 5)), batchContext());
    input.set(P, 20, 30); // records 5..19 deleted
    const ctx = batchContext();
    await t.handle(records(P, 20, history(3, 6)), ctx);
    expect(ctx.held).toBe(true);
    expect(t.phase).toMatchObject({ kind: 'stopped', refusal: { code: 'log-truncated' } });
    expect(control.paused.has(P)).toBe(true);
    expect(t.storedOffset()).toBe(4);
    const again = batchContext();
    await t.handle(records(P, 20, history(3, 6)), again);
    expect(again.held).toBe(true);
    await t.release();
  });

  it('a gap whose records still exist re-positions the consumer (not applied, not committed)', async () => {
    const t = task();
    await take(t);
    input.set(P, 0, 50);
    const ctx = batchContext();
    await t.handle(records(P, 10, history(3, 7)), ctx);
    expect(ctx.held).toBe(true);
    expect(control.seeks.at(-1)).toEqual([P, 0]);
    expect(t.phase.kind).toBe('live');
    await t.release();
  });

  it('a redelivered batch after the topic was recreated stops the partition (topic id changed)', async () => {
    const t = task();
    await take(t);
    await t.handle(records(P, 0, history(5, 8)), batchContext());
    input.identityValue = { topic: topics.events, topicId: 'topic-id-2', partitions: PARTITIONS };
    await t.handle(records(P, 0, history(3, 9)), batchContext());
    expect(t.phase).toMatchObject({ kind: 'stopped', refusal: { code: 'topic-recreated' } });
    await t.release();
  });

  it('reopened on the same store it resumes after the stored offset and publishes what a crash left dirty', async () => {
    const events = history(100, 10);
    input.set(P, 0, 100);
    const first = task();
    await take(first);
    await first.handle(records(P, 0, events.slice(0, 60)), batchContext());
    expect(first.phase.kind).toBe('catching-up');
    await first.release(); // as if it died here: the posts touched so far are dirty in the store

    const store = await PartitionStore.open(dir, P);
    expect(await store.dirtyCount()).toBeGreaterThan(0);
    await store.close();

    input.set(P, 0, 60); // no new events: the reopened task is up to date and publishes the dirty posts at once
    const second = task();
    await take(second);
    expect(control.seeks.at(-1)).toEqual([P, 60]);
    expect(second.phase.kind).toBe('live');
    expect(counts().every((c) => c.sourceOffset === 59)).toBe(true);
    expect(served()).toEqual(expectedCounts(events.slice(0, 60)));
    await second.release();
  });

  it('refuses a store built from another topic id at take time', async () => {
    const first = task();
    await take(first);
    await first.handle(records(P, 0, history(3, 11)), batchContext());
    await first.release();
    input.identityValue = { topic: topics.events, topicId: 'topic-id-9', partitions: PARTITIONS };
    input.set(P, 0, 3);
    const second = task();
    await take(second);
    expect(second.phase).toMatchObject({ kind: 'stopped', refusal: { code: 'topic-recreated' } });
    expect(control.paused.has(P)).toBe(true);
    await second.release();
  });
  /** a task that died catching up: the reopened one publishes the dirty posts while it takes the partition */
  const diedCatchingUp = async () => {
    const events = history(100, 12);
    input.set(P, 0, 100);
    const first = task();
    await take(first);
    await first.handle(records(P, 0, events.slice(0, 60)), batchContext());
    await first.release();
    input.set(P, 0, 60);
    return events.slice(0, 60);
  };

  it('fenced while taking the partition, it asks the coordinator and never re-opens the producer for a partition that is no longer its own', async () => {
    await diedCatchingUp();
    output.fenced = true; // a newer owner opened the partition's producer
    control.ownership = () => false;
    const t = task();
    const opened = output.opened;
    await t.fence();
    await expect(take(t)).rejects.toBeInstanceOf(PartitionLostError);
    expect(control.confirmations).toEqual([P]);
    expect(output.opened).toBe(opened + 1); // the take's own producer, never a second one that would fence the owner
    expect(output.of(topics.counts)).toEqual([]);
    await t.release();
  });

  it('while the coordinator cannot be asked it waits; once it confirms, the output goes out on a new producer', async () => {
    const events = await diedCatchingUp();
    output.failNext = 1;
    let asked = 0;
    control.ownership = () => (++asked < 3 ? new Error('coordinator not available') : true);
    const t = task();
    await t.fence();
    await take(t);
    expect(asked).toBe(3);
    expect(t.phase.kind).toBe('live');
    expect(served()).toEqual(expectedCounts(events));
    await t.release();
  });

  it('a batch whose ownership the coordinator does not confirm after a fence is not applied (held for redelivery)', async () => {
    const t = task();
    await take(t);
    output.fenced = true;
    control.ownership = () => false;
    const ctx = batchContext();
    expect(await t.handle(records(P, 0, history(10, 13)), ctx)).toBe('held');
    expect(ctx.held).toBe(true);
    expect(t.storedOffset()).toBeUndefined();
    expect(output.committed).toEqual([]);
    await t.release();
  });

  it('a batch not applied because ownership could not be confirmed sends the consumer back to its first offset', async () => {
    const t = task();
    await take(t);
    const events = history(10, 13);
    expect(await t.handle(records(P, 0, events.slice(0, 5)), batchContext())).toBe('applied');
    output.fenced = true;
    control.ownership = () => new Error('listCommits failed 6 times.');
    expect(await t.handle(records(P, 5, events.slice(5, 9)), batchContext())).toBe('held');
    expect(t.storedOffset()).toBe(4);
    // the held batch is fetched again from offset 5 (not from after it), then applies once
    expect(control.seeks.at(-1)).toEqual([P, 5]);
    output.fenced = false;
    control.ownership = () => true;
    expect(await t.handle(records(P, 5, events.slice(5)), batchContext())).toBe('applied');
    expect(served()).toEqual(expectedCounts(events));
    await t.release();
  });

  describe('given up while it waits for a dependency that is down', () => {
    /** a backoff no test outlives: release() must end it, not wait it out */
    const long = { initial: 600_000, max: 600_000 };
    const untilBlocked = async (t: PartitionTask) => {
      while (t.blocked === undefined) await new Promise((r) => setTimeout(r, 1));
      return t.blocked.what;
    };
    /** what settles first: `work`, or 2 s (far below the backoff) */
    const before2s = <T>(work: Promise<T>) =>
      Promise.race([work.then(() => 'settled'), new Promise((r) => setTimeout(() => r('still waiting'), 2000).unref())]);

    it('Kafka: the output backoff ends at once, the batch is held (not applied, nothing committed) and the store closes', async () => {
      const t = task(freshMetrics(), long);
      await take(t);
      output.failNext = Number.MAX_SAFE_INTEGER;
      const ctx = batchContext();
      const outcome = t.handle(records(P, 0, history(10, 21)), ctx);
      expect(await untilBlocked(t)).toBe('kafka');
      const released = t.release();
      expect(await before2s(released)).toBe('settled');
      expect(await outcome).toBe('held');
      expect(t.storedOffset()).toBeUndefined();
      expect(output.committed).toEqual([]);
      expect(control.seeks).toEqual([[P, 0]]); // only the take's: a batch given up by a revocation is not sent back
      expect(t.phase.kind).toBe('closed');
      expect(t.blocked).toBeUndefined();
    });

    it('the schema registry: the decode backoff ends at once, the batch is held and nothing is dead-lettered', async () => {
      const t = task(freshMetrics(), long);
      await take(t);
      codec.registryDown = true;
      const outcome = t.handle(records(P, 0, history(10, 22)), batchContext());
      expect(await untilBlocked(t)).toBe('schema-registry');
      const released = t.release();
      expect(await before2s(released)).toBe('settled');
      expect(await outcome).toBe('held');
      expect(output.committed).toEqual([]);
      expect(t.phase.kind).toBe('closed');
    });
  });
});
