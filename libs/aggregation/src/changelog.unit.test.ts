import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from '@doubletap/kafka';
import { homePartition } from '@doubletap/likes';
import { PartitionStore } from '@doubletap/store';
import { planChangelog } from './take-plan';
import { PartitionTask } from './task';
import { batchContext, FakeChangelog, FakeCodec, FakeControl, FakeInput, FakeKafkaOutput, freshMetrics, likeEvent, quietLogger, records } from './testing/fakes';

const PARTITIONS = 2;
const P = 0;
const topics = { events: 'likes.events', counts: 'likes.counts', deadLetter: 'likes.dlq' };
const CHANGELOG = 'likes.changelog';
const identity = { topic: topics.events, topicId: 'id-1', partitions: PARTITIONS };

describe('planChangelog', () => {
  const cl = (x: object) => ({ low: 0, high: 10, ...x });
  it('an empty store restores from a usable changelog', () => {
    expect(planChangelog({ stored: undefined, changelog: cl({ offset: 41, epochStart: 0, source: { topicId: 'id-1', partitions: 2 } }), identity, restoreThreshold: 100 })).toEqual({
      kind: 'restore',
      offset: 41,
      epochStart: 0,
      source: { topicId: 'id-1', partitions: 2 },
      replaceStore: false,
    });
  });
  it('an empty changelog, or one without meta/offset (a rewrite cut short), is rewritten after a replay', () => {
    expect(planChangelog({ stored: undefined, changelog: cl({ high: 0 }), identity, restoreThreshold: 100 }).kind).toBe('rewrite');
    expect(planChangelog({ stored: undefined, changelog: cl({}), identity, restoreThreshold: 100 }).kind).toBe('rewrite');
  });
  it('a changelog whose epoch lost records (log start moved past it) is not usable', () => {
    expect(planChangelog({ stored: undefined, changelog: cl({ low: 5, offset: 41, epochStart: 2 }), identity, restoreThreshold: 100 }).kind).toBe('rewrite');
  });
  it('a changelog of another input topic refuses an empty store and is rewritten behind a valid one', () => {
    const foreign = cl({ offset: 41, epochStart: 0, source: { topicId: 'id-0', partitions: 2 } });
    expect(planChangelog({ stored: undefined, changelog: foreign, identity, restoreThreshold: 100 })).toMatchObject({ kind: 'refuse', refusal: { code: 'topic-recreated' } });
    expect(planChangelog({ stored: 10, changelog: foreign, identity, restoreThreshold: 100 }).kind).toBe('rewrite');
  });
  it('a store close behind the changelog catches up and appends; far behind, it is replaced by a restore', () => {
    const usable = cl({ offset: 500, epochStart: 0 });
    expect(planChangelog({ stored: 450, changelog: usable, identity, restoreThreshold: 100 })).toEqual({ kind: 'append', epochStart: 0 });
    expect(planChangelog({ stored: 10, changelog: usable, identity, restoreThreshold: 100 })).toMatchObject({ kind: 'restore', replaceStore: true });
    expect(planChangelog({ stored: 600, changelog: usable, identity, restoreThreshold: 100 }).kind).toBe('rewrite'); // the changelog lost data
  });
});

describe('a partition that moves restores from the changelog, exactly', () => {
  let dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    dirs = [];
  });

  async function owner(output: FakeKafkaOutput, input: FakeInput, changelog: FakeChangelog) {
    const dir = await mkdtemp(join(tmpdir(), 'dt-cl-'));
    dirs.push(dir);
    const control = new FakeControl();
    const metrics = freshMetrics();
    const task = new PartitionTask({
      partition: P,
      pinned: PARTITIONS,
      dataDir: dir,
      topics,
      codec: new FakeCodec(),
      kafka: {} as Kafka,
      openSender: output.open,
      transactionalId: 'g-p0',
      input,
      changelog,
      changelogTopic: CHANGELOG,
      control: () => control,
      logger: quietLogger,
      metrics,
      flushChunk: 7,
    });
    await task.fence();
    await task.take({ identity, offsets: (await input.offsets())[P], changelog: (await changelog.inspect([P])).get(P) });
    return { task, dir, control, metrics };
  }

  it('A replays the history (many updates per pair) and writes the changelog; B restores it and equals a full replay', async () => {
    const users = Array.from({ length: 400 }, (_, i) => `u${i}`).filter((u) => homePartition('p', u, PARTITIONS) === P).slice(0, 40);
    let seed = 7;
    const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % k);
    const history = Array.from({ length: 600 }, () => likeEvent(`p${rnd(3) === 0 ? '' : ''}`, users[rnd(users.length)], rnd(3) === 0 ? 'UNLIKE' : 'LIKE'));
    const output = new FakeKafkaOutput();
    const changelog = new FakeChangelog(output, CHANGELOG);
    const input = new FakeInput(topics.events, PARTITIONS, 'id-1');
    input.set(P, 0, 400);

    // A: an empty store and an empty changelog: replays 0..399, then rewrites the changelog from its store
    const a = await owner(output, input, changelog);
    for (let i = 0; i < 400; i += 50) await a.task.handle(records(P, i, history.slice(i, i + 50)), batchContext());
    expect(a.task.phase.kind).toBe('live');
    // live: every batch appends its changes to the changelog
    for (let i = 400; i < 600; i += 50) await a.task.handle(records(P, i, history.slice(i, i + 50)), batchContext());
    await a.task.release();
    input.set(P, 0, 600);

    // B: a fresh store restores from the changelog (not from the input) and is up to date at once
    const b = await owner(output, input, changelog);
    expect(b.control.seeks).toEqual([[P, 600]]);
    expect(b.task.phase.kind).toBe('live');
    // the restore shows in its metrics: one restore, the changelog records it read
    expect((await b.metrics.restoreSeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(1);
    const restoredRecords = (await b.metrics.lastRestoreRecords.get()).values.find((v) => v.labels.partition === String(P))?.value;
    const range = (await changelog.inspect([P])).get(P)!;
    expect(restoredRecords).toBe(range.high - range.low);
    expect(restoredRecords).toBeGreaterThan(0);
    expect((await a.metrics.restoreSeconds.get()).values.find((v) => v.metricName?.endsWith('_count'))?.value).toBe(0);

    // C: a full replay of the input with no changelog, the reference
    const c = await (async () => {
      const dir = await mkdtemp(join(tmpdir(), 'dt-cl-ref-'));
      dirs.push(dir);
      const task = new PartitionTask({
        partition: P,
        pinned: PARTITIONS,
        dataDir: dir,
        topics,
        codec: new FakeCodec(),
        kafka: {} as Kafka,
        openSender: new FakeKafkaOutput().open,
        transactionalId: 'ref',
        input,
        control: () => undefined,
        logger: quietLogger,
        metrics: freshMetrics(),
      });
      await task.fence();
      await task.take({ identity, offsets: { partition: P, low: 0, high: 600 } });
      for (let i = 0; i < 600; i += 100) await task.handle(records(P, i, history.slice(i, i + 100)), batchContext());
      return { task, dir };
    })();

    const dump = async (task: PartitionTask) => ({
      members: await task.openStore!.allMembers(),
      counts: await task.openStore!.allCounts(),
      offset: task.openStore!.lastOffset(),
      source: task.openStore!.source(),
    });
    expect(await dump(b.task)).toEqual(await dump(c.task));
    await b.task.release();
    await c.task.release();
    const restored = await PartitionStore.open(b.dir, P);
    expect(restored.lastOffset()).toBe(599);
    await restored.close();
  });

  it('a catch-up with stores present writes each changed key once, at its end; the changelog then restores exactly', async () => {
    const users = Array.from({ length: 400 }, (_, i) => `u${i}`).filter((u) => homePartition('q', u, PARTITIONS) === P).slice(0, 30);
    let seed = 3;
    const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % k);
    const history = Array.from({ length: 900 }, () => likeEvent('q', users[rnd(users.length)], rnd(3) === 0 ? 'UNLIKE' : 'LIKE'));
    const output = new FakeKafkaOutput();
    const changelog = new FakeChangelog(output, CHANGELOG);
    const input = new FakeInput(topics.events, PARTITIONS, 'id-1');
    input.set(P, 0, 300);
    const a = await owner(output, input, changelog);
    for (let i = 0; i < 300; i += 100) await a.task.handle(records(P, i, history.slice(i, i + 100)), batchContext());
    await a.task.release();

    // the same store, 600 events behind: a catch-up, changelog deferred to its end
    input.set(P, 0, 900);
    const dir = a.dir;
    const control = new FakeControl();
    const b = new PartitionTask({
      partition: P,
      pinned: PARTITIONS,
      dataDir: dir,
      topics,
      codec: new FakeCodec(),
      kafka: {} as Kafka,
      openSender: output.open,
      transactionalId: 'g-p0',
      input,
      changelog,
      changelogTopic: CHANGELOG,
      control: () => control,
      logger: quietLogger,
      metrics: freshMetrics(),
      flushChunk: 7,
    });
    await b.fence();
    await b.take({ identity, offsets: { partition: P, low: 0, high: 900 }, changelog: (await changelog.inspect([P])).get(P) });
    const before = output.of(CHANGELOG).length;
    for (let i = 300; i < 800; i += 100) await b.handle(records(P, i, history.slice(i, i + 100)), batchContext());
    expect(output.of(CHANGELOG).length).toBe(before); // nothing per batch while catching up
    await b.handle(records(P, 800, history.slice(800)), batchContext());
    expect(b.phase.kind).toBe('live');
    const written = output.of(CHANGELOG).length - before;
    expect(written).toBeLessThanOrEqual(users.length + 1 + 2 + 1); // each key once (+ count, source, offset, tombstone)
    await b.release();

    const c = await owner(output, input, changelog);
    const members = await c.task.openStore!.allMembers();
    const oracle = new Set(history.map((e) => `${e.postId}/${e.userId}`));
    const last = new Map(history.map((e) => [`${e.postId}/${e.userId}`, e.action]));
    expect(new Set(members)).toEqual(new Set([...oracle].filter((k) => last.get(k) === 'LIKE')));
    expect(await c.task.openStore!.allCounts()).toEqual(new Map([['q', members.length]]));
    expect(c.task.openStore!.lastOffset()).toBe(899);
    await c.task.release();
  });
});
