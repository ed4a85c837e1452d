import { InvalidEventError, type CountChanged } from '@doubletap/events';
import type { BatchContext, ConsumedRecord } from '@doubletap/kafka';
import { Registry, type Logger } from '@doubletap/observability';
import type {
  ApplyResult,
  CountChange,
  HealStart,
  PartitionProgress,
  ProgressOutcome,
  ProgressStep,
} from '@doubletap/redis';
import { registryValue, totalsOf, waitFor } from '@doubletap/testing';
import { projectorMetrics } from './metrics';
import { BatchAbandonedError, ProjectionHandler } from './projection.handler';

/**
 * An in-memory stand-in for the Redis read side: the guarded per-(post, partition) data and the
 * progress hash + sentinel with the same rules as libs/redis/src/progress.ts's scripts (those run
 * against a real Redis in the integration tests). `down` makes every call fail like a dead Redis.
 */
class FakeReadSide {
  fields = new Map<string, string>();
  sentinel = false;
  data = new Map<string, Map<number, { count: number; offset: number }>>();
  down = false;
  readonly steps: ProgressStep[] = [];

  constructor(private readonly P: number) {}

  private check(): void {
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
  }

  private syncReady(): void {
    const P = Math.max(this.P, Number(this.fields.get('partitions') ?? 0));
    let complete = P > 0;
    for (let n = 0; n < P; n++) if (!this.fields.has(`p:${n}`)) complete = false;
    this.sentinel = complete;
  }

  flush(): void {
    this.fields.clear();
    this.sentinel = false;
    this.data.clear();
  }

  total(postId: string): number {
    let t = 0;
    for (const v of this.data.get(postId)?.values() ?? []) t += v.count;
    return t;
  }

  async positions(partitions: readonly number[]): Promise<Map<number, PartitionProgress>> {
    this.check();
    this.syncReady();
    const num = (k: string) => (this.fields.has(k) ? Number(this.fields.get(k)) : null);
    return new Map(partitions.map((p) => [p, { next: num(`p:${p}`), heal: num(`h:${p}`) }]));
  }

  async startHeal(n: number, low: number, high: number): Promise<HealStart> {
    this.check();
    const cur = this.fields.get(`p:${n}`);
    if (cur !== undefined) return { kind: 'live', next: Number(cur) };
    this.fields.set('partitions', String(Math.max(this.P, Number(this.fields.get('partitions') ?? 0))));
    const from = Math.max(low, Number(this.fields.get(`h:${n}`) ?? -1));
    if (from >= high) {
      this.fields.set(`p:${n}`, String(from));
      this.fields.delete(`h:${n}`);
      this.syncReady();
      return { kind: 'healed', next: from };
    }
    this.fields.set(`h:${n}`, String(from));
    this.sentinel = false;
    return { kind: 'heal', from };
  }

  async apply(changes: CountChange[], step: ProgressStep): Promise<ApplyResult> {
    this.check();
    this.steps.push(step);
    let applied = 0;
    for (const c of changes) {
      let parts = this.data.get(c.postId);
      if (!parts) this.data.set(c.postId, (parts = new Map<number, { count: number; offset: number }>()));
      if (c.sourceOffset > (parts.get(c.partition)?.offset ?? -1)) {
        parts.set(c.partition, { count: c.count, offset: c.sourceOffset });
        applied++;
      }
    }
    return { changed: [], applied, stale: changes.length - applied, progress: this.step(step) };
  }

  private step(s: ProgressStep): ProgressOutcome {
    const pf = `p:${s.partition}`;
    const hf = `h:${s.partition}`;
    const cur = this.fields.get(pf);
    const h = this.fields.get(hf);
    const num = (v: string | undefined) => (v === undefined ? null : Number(v));
    if (s.mode === 'live') {
      if (cur !== undefined && (cur === String(s.expected) || cur === String(s.next))) {
        this.fields.set(pf, String(s.next));
        return { status: 'ok' };
      }
      return { status: 'moved', next: num(cur), heal: num(h) };
    }
    if (cur !== undefined)
      return cur === String(s.next)
        ? { status: 'healed' }
        : { status: 'moved', next: num(cur), heal: num(h) };
    if (h !== String(s.expected) && h !== String(s.next))
      return { status: 'moved', next: null, heal: num(h) };
    if (s.next >= s.target) {
      this.fields.set(pf, String(s.next));
      this.fields.set('partitions', String(s.partitions));
      this.fields.delete(hf);
      this.syncReady();
      return { status: 'healed' };
    }
    this.fields.set(hf, String(s.next));
    return { status: 'ok' };
  }
}

/**
 * A consumer over an in-memory log, with kafkajs's seek semantics: a seek applies at the next fetch,
 * and a batch handed over while a seek is pending is stale; paused partitions are not fetched.
 */
class FakeConsumer {
  readonly logs = new Map<number, ConsumedRecord[]>();
  readonly position = new Map<number, number>();
  readonly pendingSeek = new Map<number, number>();
  readonly paused = new Set<number>();
  readonly seeks: Array<[number, number]> = [];
  low = 0;

  control = {
    seek: (p: number, o: number) => {
      this.seeks.push([p, o]);
      this.pendingSeek.set(p, o);
    },
    pause: (ps: number[]) => ps.forEach((p) => this.paused.add(p)),
    resume: (ps: number[]) => ps.forEach((p) => this.paused.delete(p)),
  };

  append(partition: number, value: string | null): void {
    const log = this.logs.get(partition) ?? [];
    this.logs.set(partition, log);
    log.push({
      partition,
      offset: log.length,
      key: null,
      value: value === null ? null : Buffer.from(value),
      timestamp: Date.now(),
      headers: {},
    });
  }

  high(p: number): number {
    return this.logs.get(p)?.length ?? 0;
  }

  logEnds = async () => new Map([0, 1, 2, 3].map((p) => [p, { low: this.low, high: this.high(p) }]));

  /** One fetch of partition p (at most `max` records), handed to the handler. */
  async fetch(
    handler: ProjectionHandler,
    p: number,
    max = 3,
    overrides: Partial<BatchContext> = {},
  ): Promise<number> {
    if (this.paused.has(p)) return 0;
    const seek = this.pendingSeek.get(p);
    if (seek !== undefined) {
      this.position.set(p, seek);
      this.pendingSeek.delete(p);
    }
    const from = this.position.get(p) ?? 0;
    const records = (this.logs.get(p) ?? [])
      .filter((r) => r.offset >= from && r.offset >= this.low)
      .slice(0, max);
    if (records.length === 0) return 0;
    this.position.set(p, records[records.length - 1].offset + 1);
    await handler.handleBatch(p, records, {
      heartbeat: async () => undefined,
      isRunning: () => true,
      isStale: () => this.pendingSeek.has(p),
      highWatermark: this.high(p),
      lastOffset: records[records.length - 1].offset,
      holdOffsets: () => undefined,
      ...overrides,
    });
    return records.length;
  }

  /** Fetches every unpaused partition until nothing is left to hand over. */
  async drain(handler: ProjectionHandler, partitions: number[]): Promise<void> {
    for (let round = 0; round < 10_000; round++) {
      let n = 0;
      for (const p of partitions) n += await this.fetch(handler, p);
      if (n === 0 && partitions.every((p) => !this.pendingSeek.has(p))) return;
    }
    throw new Error('drain did not finish');
  }
}

function logger() {
  const lines: string[] = [];
  const log = (msg: unknown, text?: string) => lines.push(typeof msg === 'string' ? msg : (text ?? ''));
  const l = { lines, debug: log, info: log, warn: log, error: log, child: () => l };
  return l;
}

const decode = async (value: Buffer): Promise<CountChanged> => {
  const text = value.toString();
  if (text === 'garbage') throw new InvalidEventError('undecodable', 'undecodable Avro: test');
  const [postId, partition, count, sourceOffset] = text.split(',');
  return { postId, partition: Number(partition), count: Number(count), sourceOffset: Number(sourceOffset) };
};

function setup(P = 2) {
  const metrics = projectorMetrics(new Registry());
  const redis = new FakeReadSide(P);
  const consumer = new FakeConsumer();
  const log = logger();
  const handler = new ProjectionHandler({
    decode,
    apply: (c, s) => redis.apply(c, s),
    progress: redis,
    control: consumer.control,
    logEnds: consumer.logEnds,
    partitions: () => P,
    metrics,
    logger: log as unknown as Logger,
    backoffMs: { initial: 1, max: 5 },
  });
  const assign = async (partitions: number[], revoked: number[] = []) => {
    await handler.onAssignment({ partitions, added: partitions, revoked, memberId: 'm', generation: 1 });
    await settled(handler);
  };
  return { handler, metrics, redis, consumer, log, assign };
}

/** Waits until no owned partition is being positioned. */
const settled = (handler: ProjectionHandler) =>
  waitFor(
    'partitions positioned',
    () => [...handler.tracker.states().values()].every((k) => k !== 'positioning'),
    5000,
    1,
  );

const metric = (metrics: ReturnType<typeof projectorMetrics>, name: string, labels: Record<string, string> = {}) =>
  registryValue(metrics.registry, name, labels);

/** The truth from the records themselves: the merge rule of libs/likes over every record. */
function truth(consumer: FakeConsumer): Map<string, number> {
  const changes: CountChanged[] = [];
  for (const log of consumer.logs.values())
    for (const r of log) {
      if (r.value === null || r.value.toString() === 'garbage') continue;
      const [postId, partition, count, sourceOffset] = r.value.toString().split(',');
      changes.push({ postId, partition: Number(partition), count: Number(count), sourceOffset: Number(sourceOffset) });
    }
  return totalsOf(changes);
}

function expectTotals(redis: FakeReadSide, consumer: FakeConsumer): void {
  const expected = truth(consumer);
  expect(expected.size).toBeGreaterThan(0);
  for (const [post, total] of expected) expect({ post, total: redis.total(post) }).toEqual({ post, total });
}

/** CountChanged of posts a..d over two source partitions, `n` per likes.counts partition. */
function produce(consumer: FakeConsumer, n: number, partitions = [0, 1], base = 0): void {
  for (let i = 0; i < n; i++)
    for (const p of partitions)
      consumer.append(p, `post-${'abcd'[(i + p) % 4]},${p},${(i * 7 + p) % 13},${base + i}`);
}

describe('ProjectionHandler: records', () => {
  async function live() {
    const s = setup(1);
    s.redis.fields.set('p:0', '0');
    s.redis.fields.set('partitions', '1');
    await s.assign([0]);
    return s;
  }
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

  it('skips undecodable records and tombstones, applies the rest in one call with the progress step', async () => {
    const { handler, metrics, redis } = await live();
    await handler.handleBatch(
      0,
      [record(0, 'a,0,1,5'), record(1, 'garbage'), record(2, null), record(3, 'b,0,2,6')],
      ctx({ lastOffset: 3 }),
    );
    expect(redis.steps).toEqual([
      { partition: 0, mode: 'live', expected: 0, next: 4, target: 0, partitions: 1 },
    ]);
    expect(redis.total('a') + redis.total('b')).toBe(3);
    expect(redis.fields.get('p:0')).toBe('4');
    expect(await metric(metrics, 'doubletap_projector_records_total', { outcome: 'invalid' })).toBe(1);
    expect(await metric(metrics, 'doubletap_projector_records_total', { outcome: 'tombstone' })).toBe(1);
    expect(await metric(metrics, 'doubletap_projector_records_total', { outcome: 'applied' })).toBe(2);
    expect(await metric(metrics, 'doubletap_projector_lag_records', { partition: '0' })).toBe(6);
  });

  it('does not resolve while Redis fails: retries with heartbeats until it works', async () => {
    const { handler, metrics, redis } = await live();
    const real = redis.apply.bind(redis);
    let failures = 5;
    let calls = 0;
    redis.apply = async (c, step) => {
      calls++;
      if (failures-- > 0) throw new Error("Stream isn't writeable");
      return real(c, step);
    };
    const heartbeat = jest.fn(async () => undefined);
    await handler.handleBatch(0, [record(0, 'a,0,1,5')], ctx({ lastOffset: 0, heartbeat }));
    expect(calls).toBe(6);
    expect(heartbeat).toHaveBeenCalledTimes(5);
    expect(await metric(metrics, 'doubletap_projector_redis_errors_total')).toBe(5);
    expect(await metric(metrics, 'doubletap_projector_blocked')).toBe(0);
    expect(redis.fields.get('p:0')).toBe('1');
  });

  it('gives the batch up uncommitted (rejects) when the consumer stops during an outage', async () => {
    const { handler, redis } = await live();
    let running = true;
    let calls = 0;
    redis.apply = async () => {
      running = ++calls < 3;
      throw new Error('ECONNREFUSED');
    };
    await expect(
      handler.handleBatch(0, [record(0, 'a,0,1,5')], ctx({ isRunning: () => running })),
    ).rejects.toThrow(BatchAbandonedError);
    expect(calls).toBe(3);
    expect(redis.fields.get('p:0')).toBe('0');
  });

  it('lets a heartbeat failure (rebalance) propagate instead of looping', async () => {
    const { handler, redis } = await live();
    redis.down = true;
    const rebalancing = ctx({ heartbeat: () => Promise.reject(new Error('The group is rebalancing')) });
    await expect(handler.handleBatch(0, [record(0, 'a,0,1,5')], rebalancing)).rejects.toThrow('rebalancing');
  });

  it('skips a batch the progress already covers, and a stale one (seek pending), without touching Redis', async () => {
    const { handler, metrics, redis } = await live();
    redis.fields.set('p:0', '5');
    await handler.tracker.check(); // learns p:0 = 5 (as if another owner had applied up to 5)
    await handler.handleBatch(0, [record(3, 'a,0,1,5'), record(4, 'a,0,2,6')], ctx({ lastOffset: 4 }));
    await handler.handleBatch(0, [record(5, 'a,0,1,7')], ctx({ isStale: () => true }));
    expect(redis.steps).toEqual([]);
    expect(await metric(metrics, 'doubletap_projector_records_total', { outcome: 'skipped' })).toBe(3);
  });
});

describe('ProjectionHandler: progress in Redis, heal, compare-and-set, re-seek', () => {
  it('a fresh read side with an empty log: every partition "heals" at once and the sentinel appears', async () => {
    const { redis, handler, metrics, log, assign } = setup(2);
    await assign([0, 1]);
    expect(redis.fields.get('p:0')).toBe('0');
    expect(redis.fields.get('p:1')).toBe('0');
    expect(redis.sentinel).toBe(true);
    expect(handler.tracker.notReady()).toBeUndefined();
    expect(await metric(metrics, 'doubletap_projector_heals_total')).toBe(2);
    expect(log.lines).toContain('partition 0 healed in 0 seconds (0 records)');
  });

  it('heals from the log start to the high watermark taken then, writes p:<n> only at the end, and only the last partition sets the sentinel', async () => {
    const { redis, consumer, handler, metrics, log, assign } = setup(2);
    produce(consumer, 10);
    consumer.control.resume([0, 1]);
    consumer.position.set(0, 7); // the committed Kafka offset is not where Redis is
    await assign([0, 1]);
    expect(log.lines).toContain('read side lost: healing partition 0 from offset 0 to 10');
    expect(handler.tracker.states()).toEqual(
      new Map([
        [0, 'healing'],
        [1, 'healing'],
      ]),
    );
    expect(handler.tracker.notReady()).toMatch(
      /^read side healing: partitions 0 \(0 of 10 offsets\), 1 \(0 of 10 offsets\)$/,
    );
    expect(await metric(metrics, 'doubletap_projector_healing', { partition: '0' })).toBe(1);
    expect(consumer.seeks).toEqual([
      [0, 0],
      [1, 0],
    ]);

    for (let i = 0; i < 3; i++) await consumer.fetch(handler, 0);
    expect(redis.fields.get('p:0')).toBeUndefined(); // 9 of 10 applied: still healing
    expect(redis.fields.get('h:0')).toBe('9');
    await consumer.fetch(handler, 0);
    expect(redis.fields.get('p:0')).toBe('10');
    expect(redis.fields.has('h:0')).toBe(false);
    expect(redis.sentinel).toBe(false); // partition 1 is not restored yet
    expect(log.lines).toContainEqual(
      expect.stringMatching(/^partition 0 healed in [\d.]+ seconds \(10 records\)$/),
    );

    await consumer.drain(handler, [0, 1]);
    expect(redis.sentinel).toBe(true);
    expect(handler.tracker.notReady()).toBeUndefined();
    expect(await metric(metrics, 'doubletap_projector_healing', { partition: '0' })).toBe(0);
    expectTotals(redis, consumer);

    // live from here: each batch moves p:<n> by compare-and-set
    produce(consumer, 2, [0], 100);
    await consumer.drain(handler, [0, 1]);
    expect(redis.fields.get('p:0')).toBe('12');
    expect(redis.steps.at(-1)).toMatchObject({ partition: 0, mode: 'live', expected: 10, next: 12 });
  });

  it('a loss seen by a batch (progress gone): the partition heals from the log start; totals end exact', async () => {
    const { redis, consumer, handler, metrics, assign } = setup(2);
    produce(consumer, 6);
    await assign([0, 1]);
    await consumer.drain(handler, [0, 1]);
    expect(redis.sentinel).toBe(true);

    redis.flush(); // FLUSHALL
    produce(consumer, 2, [0], 50);
    await consumer.fetch(handler, 0);
    // the batch landed in the empty Redis, but its step found no p:0: heal
    await settled(handler);
    expect(handler.tracker.states().get(0)).toBe('healing');
    expect(consumer.seeks.at(-1)).toEqual([0, 0]);
    expect(redis.sentinel).toBe(false);
    expect(await metric(metrics, 'doubletap_projector_reseeks_total', { reason: 'lost' })).toBe(1);

    await consumer.drain(handler, [0, 1]);
    // partition 1 got no record since the loss: it is still "live" to this projector until the idle check
    expect(redis.sentinel).toBe(false);
    await handler.tracker.check();
    await settled(handler);
    await consumer.drain(handler, [0, 1]);
    expect(redis.sentinel).toBe(true);
    expectTotals(redis, consumer);
  });

  it('a loss on idle partitions is seen by the idle check alone, and healed without any new record', async () => {
    const { redis, consumer, handler, assign } = setup(2);
    produce(consumer, 5);
    await assign([0, 1]);
    await consumer.drain(handler, [0, 1]);
    redis.flush();
    await handler.tracker.check();
    await settled(handler);
    expect(handler.tracker.states()).toEqual(
      new Map([
        [0, 'healing'],
        [1, 'healing'],
      ]),
    );
    await consumer.drain(handler, [0, 1]);
    expect(redis.sentinel).toBe(true);
    expectTotals(redis, consumer);
  });

  it('the idle check still asks the store when every partition is busy (it guards the Redis Cluster masters on each ask)', async () => {
    const { redis, consumer, handler, assign } = setup(2);
    produce(consumer, 5);
    await assign([0, 1]);
    const asked: Array<readonly number[]> = [];
    const positions = redis.positions.bind(redis);
    redis.positions = (partitions) => (asked.push([...partitions]), positions(partitions));
    // a batch in flight on each partition (planned, not released): nothing is idle
    const plans = [0, 1].map((p) => handler.tracker.plan(p, 100));
    expect(plans.every((p) => p !== undefined)).toBe(true);
    await handler.tracker.check();
    expect(asked).toEqual([[]]);
    for (const plan of plans) handler.tracker.release(plan!);
    await handler.tracker.check();
    expect(asked).toEqual([[], [0, 1]]);
  });

  it("Redis back in time (an older snapshot): the partition is replayed from the snapshot's own progress", async () => {
    const { redis, consumer, handler, metrics, assign } = setup(1);
    produce(consumer, 4, [0]);
    await assign([0]);
    await consumer.drain(handler, [0]);
    const snapshot = {
      fields: new Map(redis.fields),
      data: new Map([...redis.data].map(([k, v]) => [k, new Map(v)])),
    };
    produce(consumer, 4, [0], 10);
    await consumer.drain(handler, [0]);
    expect(redis.fields.get('p:0')).toBe('8');

    redis.fields = snapshot.fields;
    redis.data = snapshot.data;
    await handler.tracker.check();
    expect(consumer.seeks.at(-1)).toEqual([0, 4]);
    expect(await metric(metrics, 'doubletap_projector_reseeks_total', { reason: 'moved' })).toBe(1);
    await consumer.drain(handler, [0]);
    expect(redis.fields.get('p:0')).toBe('8');
    expectTotals(redis, consumer);
  });

  it('a zombie that lost the partition cannot move progress backwards: its step fails, it follows Redis', async () => {
    const { redis, consumer, handler, metrics, assign } = setup(1);
    produce(consumer, 10, [0]);
    redis.fields.set('p:0', '0');
    await assign([0]);
    await consumer.fetch(handler, 0); // p:0 = 3
    redis.fields.set('p:0', '8'); // the new owner got further meanwhile
    await consumer.fetch(handler, 0); // this projector's batch 3..5: expected 3, Redis holds 8
    expect(redis.fields.get('p:0')).toBe('8');
    expect(consumer.seeks.at(-1)).toEqual([0, 8]);
    expect(await metric(metrics, 'doubletap_projector_reseeks_total', { reason: 'moved' })).toBe(1);
    produce(consumer, 1, [0], 20);
    await consumer.drain(handler, [0]);
    expect(redis.fields.get('p:0')).toBe('11');
  });

  it('a second loss during a heal (h:<n> gone) restarts the heal; p:<n> is never written from a broken chain', async () => {
    const { redis, consumer, handler, assign } = setup(1);
    produce(consumer, 9, [0]);
    await assign([0]);
    await consumer.fetch(handler, 0); // h:0 = 3
    redis.flush();
    await consumer.fetch(handler, 0); // 3..5 applied to the empty Redis; the step finds no h:0
    expect(redis.fields.has('p:0')).toBe(false);
    await settled(handler);
    expect(consumer.seeks.at(-1)).toEqual([0, 0]);
    await consumer.drain(handler, [0]);
    expect(redis.fields.get('p:0')).toBe('9');
    expect(redis.sentinel).toBe(true);
    expectTotals(redis, consumer);
  });

  it('an interrupted heal resumes from h:<n> on the next assignment', async () => {
    const { redis, consumer, handler, log, assign } = setup(1);
    produce(consumer, 9, [0]);
    await assign([0]);
    await consumer.fetch(handler, 0); // h:0 = 3
    await assign([0]); // a rebalance
    expect(log.lines).toContain('read side lost: healing partition 0 from offset 3 to 9');
    expect(consumer.seeks.at(-1)).toEqual([0, 3]);
    await consumer.drain(handler, [0]);
    expect(redis.fields.get('p:0')).toBe('9');
  });

  it('Redis down while positioning: partitions stay paused, /ready says why, and it goes on when Redis is back', async () => {
    const { redis, consumer, handler } = setup(1);
    redis.fields.set('p:0', '2');
    redis.down = true;
    await handler.onAssignment({ partitions: [0], added: [0], revoked: [], memberId: 'm', generation: 1 });
    await new Promise((r) => setTimeout(r, 30));
    expect(consumer.paused.has(0)).toBe(true);
    expect(handler.tracker.notReady()).toBe('reading the progress of partition 0 from Redis');
    produce(consumer, 1, [0]);
    expect(await consumer.fetch(handler, 0)).toBe(0); // paused: nothing fetched
    redis.down = false;
    await settled(handler);
    expect(consumer.paused.has(0)).toBe(false);
    expect(consumer.seeks).toEqual([[0, 2]]);
  });

  it('a batch fetched before the partition was positioned is dropped (the seek that follows rules)', async () => {
    const { redis, consumer, handler, metrics } = setup(1);
    produce(consumer, 3, [0]);
    redis.down = true;
    await handler.onAssignment({ partitions: [0], added: [0], revoked: [], memberId: 'm', generation: 1 });
    consumer.paused.delete(0); // fetched just before the pause took effect
    await consumer.fetch(handler, 0);
    expect(redis.steps).toEqual([]);
    expect(await metric(metrics, 'doubletap_projector_records_total', { outcome: 'skipped' })).toBe(3);
    redis.down = false;
    await settled(handler);
    await consumer.drain(handler, [0]);
    expect(redis.fields.get('p:0')).toBe('3');
    expectTotals(redis, consumer);
  });

  it('a partition re-positioned while its batch waited for Redis: the batch is dropped quietly', async () => {
    const { redis, consumer, handler, assign } = setup(1);
    produce(consumer, 3, [0]);
    redis.fields.set('p:0', '0');
    await assign([0]);
    redis.down = true;
    const pending = consumer.fetch(handler, 0);
    await new Promise((r) => setTimeout(r, 10));
    redis.down = false;
    await handler.onAssignment({ partitions: [0], added: [], revoked: [], memberId: 'm', generation: 2 });
    await expect(pending).resolves.toBe(3);
    await settled(handler);
    await consumer.drain(handler, [0]);
    expect(redis.fields.get('p:0')).toBe('3');
  });
});
