import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from '@doubletap/kafka';
import { homePartition } from '@doubletap/likes';
import { PartitionStore } from '@doubletap/store';
import { StandbyManager } from './standby';
import { chooseStandbys, parseStandbyChoice } from './standby-choice';
import { applyToStandby, planPromotion } from './standby-tail';
import { PartitionTask } from './task';
import {
  batchContext,
  FakeChangelog,
  FakeCodec,
  FakeControl,
  FakeInput,
  FakeKafkaOutput,
  freshMetrics,
  likeEvent,
  quietLogger,
  records,
} from './testing/fakes';

const PARTITIONS = 2;
const P = 0;
const topics = { events: 'likes.events', counts: 'likes.counts', deadLetter: 'likes.dlq' };
const CHANGELOG = 'likes.changelog';
const identity = { topic: topics.events, topicId: 'id-1', partitions: PARTITIONS };

describe('planPromotion', () => {
  const cl = { partition: P, low: 0, high: 100, offset: 41, offsetAt: 98, epochStart: 0 };
  it('a standby of the changelog epoch reads the tail after its position', () => {
    expect(planPromotion({ position: 60, epochStart: 0, base: 0 }, cl)).toEqual({
      kind: 'tail',
      from: 60,
      to: 100,
    });
    // no meta/offset seen yet: tied to the epoch it started at
    expect(planPromotion({ position: 3, epochStart: null, base: 0 }, cl)).toEqual({
      kind: 'tail',
      from: 3,
      to: 100,
    });
  });
  it('another epoch (the changelog was rewritten), a position outside the log or an unusable changelog: discarded', () => {
    expect(
      planPromotion({ position: 60, epochStart: 0, base: 0 }, { ...cl, low: 70, epochStart: 70 }).kind,
    ).toBe('discard');
    expect(planPromotion({ position: 3, epochStart: null, base: 2 }, cl).kind).toBe('discard');
    expect(planPromotion({ position: 120, epochStart: 0, base: 0 }, cl).kind).toBe('discard');
    expect(planPromotion({ position: 60, epochStart: 0, base: 0 }, { ...cl, offset: undefined }).kind).toBe(
      'discard',
    );
    expect(planPromotion({ position: 60, epochStart: 0, base: 0 }, { ...cl, low: 10 }).kind).toBe('discard'); // records of the epoch deleted
  });
});

describe('chooseStandbys and AGGREGATOR_STANDBYS', () => {
  it('all = every partition not owned; n = up to n, those with a store first, stable for a seed', () => {
    expect(chooseStandbys('all', 6, [1, 4], 's', () => false)).toEqual([0, 2, 3, 5]);
    expect(chooseStandbys('none', 6, [1], 's', () => true)).toEqual([]);
    const two = chooseStandbys(2, 6, [1, 4], 'seed-a', () => false);
    expect(two).toHaveLength(2);
    expect(chooseStandbys(2, 6, [1, 4], 'seed-a', () => false)).toEqual(two);
    expect(chooseStandbys(1, 6, [1, 4], 'seed-a', (p) => p === 5)).toEqual([5]);
    expect(chooseStandbys(10, 3, [0], 'x', () => false)).toEqual([1, 2]);
  });
  it('parses none, all and counts', () => {
    expect(parseStandbyChoice('none')).toBe('none');
    expect(parseStandbyChoice('all')).toBe('all');
    expect(parseStandbyChoice('0')).toBe('none');
    expect(parseStandbyChoice('3')).toBe(3);
    expect(parseStandbyChoice('x')).toBeUndefined();
  });
});

describe('standby stores (fake changelog)', () => {
  let dirs: string[] = [];
  afterEach(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    dirs = [];
  });
  const newDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'dt-sb-'));
    dirs.push(d);
    return d;
  };
  const users = Array.from({ length: 400 }, (_, i) => `u${i}`)
    .filter((u) => homePartition('p', u, PARTITIONS) === P)
    .slice(0, 40);
  function history(n: number, seed0: number) {
    let seed = seed0;
    const rnd = (k: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % k);
    return Array.from({ length: n }, () =>
      likeEvent(rnd(2) === 0 ? 'p' : 'q', users[rnd(users.length)], rnd(3) === 0 ? 'UNLIKE' : 'LIKE'),
    ).filter((e) => homePartition(e.postId, e.userId, PARTITIONS) === P);
  }

  async function owner(
    dir: string,
    output: FakeKafkaOutput,
    input: FakeInput,
    changelog: FakeChangelog,
    metrics = freshMetrics(),
  ) {
    const control = new FakeControl();
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
    await task.take({
      identity,
      offsets: (await input.offsets())[P],
      changelog: (await changelog.inspect([P])).get(P),
    });
    return { task, control, metrics };
  }
  const manager = (dir: string, changelog: FakeChangelog, metrics = freshMetrics()) =>
    new StandbyManager({
      dataDir: dir,
      partitions: PARTITIONS,
      choice: 'all',
      seed: dir,
      changelog,
      tail: changelog.openTail(),
      logger: quietLogger,
      metrics,
      retryMs: 5,
    });
  const dump = async (store: PartitionStore) => ({
    members: await store.allMembers(),
    counts: await store.allCounts(),
    offset: store.lastOffset(),
    source: store.source(),
  });
  async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  async function apply(task: PartitionTask, events: ReturnType<typeof history>, from: number, step = 20) {
    for (let i = 0; i < events.length; i += step)
      await task.handle(records(P, from + i, events.slice(i, i + step)), batchContext());
  }

  it('a standby follows the changelog; promoted, it reads only the tail and equals a full restore', async () => {
    const events = history(1400, 5);
    const output = new FakeKafkaOutput();
    const changelog = new FakeChangelog(output, CHANGELOG);
    const input = new FakeInput(topics.events, PARTITIONS, 'id-1');
    input.set(P, 0, 0);
    const a = await owner(await newDir(), output, input, changelog);
    await apply(a.task, events.slice(0, 800), 0);

    // the standby member (owns partition 1) follows partition 0's changelog
    const sDir = await newDir();
    const sMetrics = freshMetrics();
    const standbys = manager(sDir, changelog, sMetrics);
    await standbys.update([1]);
    expect(standbys.partitions).toEqual([P]);
    await until('standby caught up', () => standbys.positionOf(P) === output.of(CHANGELOG).length);
    expect(standbys.warm).toEqual({ [P]: 799 }); // the assignment hint: how far its state is
    expect(
      (await sMetrics.standbyLag.get()).values.find((v) => v.labels.partition === String(P))?.value,
    ).toBe(0);

    // A goes on while the partition is handed over (the rebalance): these changes are the tail the
    // standby has not applied; then A dies and the standby member takes the partition
    await apply(a.task, events.slice(800, 850), 800);
    await standbys.release([P]);
    const handedOver = await PartitionStore.open(sDir, P);
    const position = handedOver.standby()!.position;
    await handedOver.close();
    await apply(a.task, events.slice(850, 900), 850);
    await a.task.release();
    input.set(P, 0, 900);
    const total = output.of(CHANGELOG).length;
    const readBefore = changelog.tailed.get(P) ?? 0;
    const b = await owner(sDir, output, input, changelog, sMetrics);
    expect(b.task.phase.kind).toBe('live');
    expect(b.control.seeks).toEqual([[P, 900]]);
    const readAtPromotion = (changelog.tailed.get(P) ?? 0) - readBefore;
    expect(readAtPromotion).toBe(total - position);
    expect(readAtPromotion).toBeGreaterThan(0);
    expect(readAtPromotion).toBeLessThan(total / 4);
    expect((await sMetrics.promotions.get()).values.find((v) => v.labels.outcome === 'promoted')?.value).toBe(
      1,
    );

    // the reference: a fresh member's full restore from the same changelog
    const c = await owner(await newDir(), new FakeKafkaOutput(), input, changelog);
    expect(await dump(b.task.openStore!)).toEqual(await dump(c.task.openStore!));
    expect(b.task.openStore!.standby()).toBeUndefined();
    await c.task.release();

    // B is live and logs; given up, its store becomes a standby again at the record that named its offset
    await apply(b.task, events.slice(900), 900);
    await b.task.release();
    await standbys.update([1]);
    expect(standbys.positionOf(P)).toBeDefined();
    await standbys.stop();
    const reopened = await PartitionStore.open(sDir, P);
    expect(reopened.lastOffset()).toBeUndefined();
    expect(reopened.standby()?.epochStart).toBe(0);
    await reopened.close();
  });

  it('a revoked store becomes a standby, and the next promotion reads only what the other owner wrote since', async () => {
    const events = history(1000, 9);
    const output = new FakeKafkaOutput();
    const changelog = new FakeChangelog(output, CHANGELOG);
    const input = new FakeInput(topics.events, PARTITIONS, 'id-1');
    const aDir = await newDir();
    const a = await owner(aDir, output, input, changelog);
    await apply(a.task, events.slice(0, 500), 0);
    await a.task.release();
    const standbys = manager(aDir, changelog);
    await standbys.update([]);
    expect(standbys.positionOf(P)).toBe(output.of(CHANGELOG).length); // right after the last meta/offset

    // another member owns it now and writes 100 events' worth
    input.set(P, 0, 500);
    const b = await owner(await newDir(), output, input, changelog);
    const beforeB = output.of(CHANGELOG).length;
    await apply(b.task, events.slice(500, 600), 500);
    await b.task.release();
    await until('standby caught up', () => standbys.positionOf(P) === output.of(CHANGELOG).length);
    await standbys.release([P]);
    input.set(P, 0, 600);
    const read0 = changelog.tailed.get(P) ?? 0;
    const back = await owner(aDir, output, input, changelog);
    expect(back.task.phase.kind).toBe('live');
    expect(changelog.tailed.get(P)! - read0).toBe(0); // the standby had it all
    expect(changelog.tailed.get(P)!).toBeLessThanOrEqual(output.of(CHANGELOG).length - beforeB + 5);
    const ref = await owner(await newDir(), new FakeKafkaOutput(), input, changelog);
    expect(await dump(back.task.openStore!)).toEqual(await dump(ref.task.openStore!));
    await standbys.stop();
  });

  it('a changelog rewritten (new epoch) under a standby: it starts again from the new start, and a stale one is discarded at promotion', async () => {
    const events = history(600, 13);
    const output = new FakeKafkaOutput();
    const changelog = new FakeChangelog(output, CHANGELOG);
    const input = new FakeInput(topics.events, PARTITIONS, 'id-1');
    const a = await owner(await newDir(), output, input, changelog);
    await apply(a.task, events.slice(0, 300), 0);
    await a.task.release();

    const sDir = await newDir();
    const store = await PartitionStore.open(sDir, P);
    await store.becomeStandby({ position: 0, epochStart: null, base: 0 });
    const tail = changelog.openTail();
    const first = (await tail.fetch(new Map([[P, 0]]))).get(P)!;
    if (first.kind !== 'records') throw new Error('expected records');
    expect(await applyToStandby(store, first.records, first.next)).toBe('applied');
    // a rewrite: truncated, a new epoch at the new start
    const epoch = await changelog.truncate(P);
    output.committed.push([
      {
        topic: CHANGELOG,
        partition: P,
        key: 'meta/offset',
        value: Buffer.from(JSON.stringify({ offset: 299, epochStart: epoch })),
      },
    ]);
    expect(
      await applyToStandby(
        store,
        [{ offset: epoch, key: 'meta/offset', value: JSON.stringify({ offset: 299, epochStart: epoch }) }],
        epoch + 1,
      ),
    ).toBe('reset');
    await store.close();

    // promotion of the stale standby: discarded, the partition restores from the changelog as usual
    input.set(P, 0, 300);
    const metrics = freshMetrics();
    const b = await owner(sDir, output, input, changelog, metrics);
    expect(b.task.openStore!.standby()).toBeUndefined();
    expect((await metrics.promotions.get()).values.find((v) => v.labels.outcome === 'discarded')?.value).toBe(
      1,
    );
    await b.task.release();
  });

  it('a partition taken while its input is empty still writes its changelog: a later owner restores it', async () => {
    const events = history(200, 17);
    const output = new FakeKafkaOutput();
    const changelog = new FakeChangelog(output, CHANGELOG);
    const input = new FakeInput(topics.events, PARTITIONS, 'id-1');
    input.set(P, 0, 0);
    const a = await owner(await newDir(), output, input, changelog);
    expect(a.task.phase.kind).toBe('live');
    await apply(a.task, events, 0);
    await a.task.release();
    const cl = (await changelog.inspect([P])).get(P)!;
    expect(cl.offset).toBe(events.length - 1);
    expect(cl.source).toEqual({ topicId: 'id-1', partitions: PARTITIONS });

    input.set(P, 0, events.length);
    const b = await owner(await newDir(), new FakeKafkaOutput(), input, changelog);
    expect(b.control.seeks).toEqual([[P, events.length]]); // restored, nothing to replay
    const members = new Set(await b.task.openStore!.allMembers());
    const last = new Map(events.map((e) => [`${e.postId}/${e.userId}`, e.action]));
    expect(members).toEqual(new Set([...last].filter(([, act]) => act === 'LIKE').map(([k]) => k)));
    await b.task.release();
  });
});
