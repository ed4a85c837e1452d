import type { Logger } from '@doubletap/observability';
import type {
  Assignment,
  BatchConsumerOptions,
  BatchContext,
  BatchHandler,
  ConsumedRecord,
  ConsumerStatus,
  GroupConsumer,
} from './batch-consumer';
import { platformatic, type Platformatic } from './platformatic';

type Consumer = Platformatic.Consumer<Buffer, Buffer, Buffer, Buffer>;
type RecordsBatch = Platformatic.RecordsBatch;
/** The ConsumerGroupHeartbeat answer, as the library parses it (apis/consumer/consumer-group-heartbeat-v1). */
interface HeartbeatResponse {
  memberId: string | null;
  heartbeatIntervalMs: number;
  memberEpoch: number;
  assignment: { topicPartitions: TopicPartitions } | null;
}
type TopicPartitions = Array<{ topicId: string; partitions: number[] }>;
type Callback<T> = (error: Error | null, value?: T) => void;
type Api = ((...args: unknown[]) => void) & { version: number };

export interface PlatformaticBatchConsumerOptions extends Omit<BatchConsumerOptions, 'kafka'> {
  brokers: string[];
  clientId: string;
  /** how long a member may take to give up a partition the coordinator took away (ms) */
  rebalanceTimeoutMs?: number;
}

/** One partition this member was assigned, and where it stands. */
interface Owned {
  partition: number;
  /** onAssignment(added) resolved: batches may be handed out */
  ready: boolean;
  /** the coordinator took it away: no new batches; released once the handler let it go */
  revoking: boolean;
  paused: boolean;
  /** the next offset to fetch (undefined until the committed offset is known) */
  position?: number;
  /** bumped by every seek: a fetch answered after a seek is dropped */
  seeks: number;
  /** a batch of it is with the handler */
  busy: boolean;
  /** the offset to commit next (last resolved + 1) */
  toCommit?: number;
}

const IS_CONTROL = 0x20;
/** protocol error codes after which this member lost everything it owned */
const FENCED_MEMBER_EPOCH = 110;
const UNKNOWN_MEMBER_ID = 25;
const NO_HEADERS: Record<string, string> = Object.freeze({});
/**
 * a batch's heartbeat() fails when the coordinator has not answered for this long (or two of its
 * heartbeat intervals and a second; the session it expires members after is longer)
 */
const CONFIRM_WITHIN_MS = 5000;
/** how long a heartbeat answer may wait for a revocation to finish before the library reads it */
const ACK_WAIT_MS = 500;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * A consumer-group member on @platformatic/kafka with the KIP-848 consumer group protocol
 * (`groupProtocol: 'consumer'`, Kafka ≥ 4.0; docs/adr/0019-kip848-consumer.md), with the contract of
 * {@link BatchConsumer}: batches per partition after the assignment hook, manual commit, pause, seek.
 *
 * The broker computes assignments and hands them out in heartbeats; nothing stops the group. A
 * partition that moves is revoked alone: this member stops fetching it, tells the handler
 * (`onAssignment` with `revoked`), commits what was resolved, and only then tells the coordinator
 * it gave the partition up, which is when the new owner gets it. Partitions that stay keep being
 * fetched and handled throughout. Added partitions are handed to `onAssignment` (with `added`)
 * before their first batch; each call carries only the change (incremental), `partitions` is the
 * whole set.
 *
 * The library acknowledges a revocation as soon as it reads it, so this class holds it back: it
 * wraps the library's ConsumerGroupHeartbeat call and, until the handler released a revoked
 * partition, reports it to the library as still assigned (the library then keeps declaring it as
 * owned, which is what the protocol expects from a member that is still revoking). The fetching is
 * this class's own loop (Consumer.fetch per leader), as the library's stream has no per-partition
 * pause or seek.
 */
export class PlatformaticBatchConsumer implements GroupConsumer {
  private consumer?: Consumer;
  private topicId?: string;
  private readonly parts = new Map<number, Owned>();
  /** what the coordinator assigned last (this topic) */
  private target = new Set<number>();
  private generation = 0;
  /** when the coordinator last answered a heartbeat */
  private lastBeat = 0;
  /** the heartbeat interval the coordinator asks for */
  private beatEveryMs = 1000;
  /** heartbeats that failed in a row (logged: the first, then every tenth) */
  private beatFailures = 0;
  private memberId = '';
  private assignmentTask: Promise<void> = Promise.resolve();
  private wanted = false;
  private loop?: Promise<void>;
  private commitTimer?: NodeJS.Timeout;
  private current: ConsumerStatus = { state: 'new', restarts: 0, since: Date.now() };
  private wake?: () => void;
  /** when a batch was last handed over to the handler (ms since the epoch; 0: never) */
  private handedAt = 0;
  private readonly handler: BatchHandler;
  private readonly logger?: Logger;

  constructor(private readonly options: PlatformaticBatchConsumerOptions) {
    this.handler = options.handler;
    this.logger = options.logger;
  }

  get ownedPartitions(): number[] {
    return [...this.parts.keys()].sort((a, b) => a - b);
  }

  get lastCrash(): Error | undefined {
    return this.current.state === 'restarting' && this.current.lastError
      ? new Error(this.current.lastError)
      : undefined;
  }

  status(): ConsumerStatus {
    return this.lastBeat > 0 ? { ...this.current, lastGroupAnswer: this.lastBeat } : { ...this.current };
  }

  async start(): Promise<void> {
    const { options } = this;
    const lib = platformatic();
    this.wanted = true;
    this.setState('starting');
    const consumer = new lib.Consumer({
      clientId: options.clientId,
      bootstrapBrokers: options.brokers,
      groupId: options.groupId,
      groupProtocol: lib.GroupProtocols.CONSUMER,
      // the library checks it against its classic-protocol session timeout (60 s), which this protocol ignores
      rebalanceTimeout: Math.max(60000, options.rebalanceTimeoutMs ?? 60000),
      maxBytes: options.maxBytes ?? 10485760,
      maxBytesPerPartition: options.maxBytesPerPartition ?? 1048576,
      maxWaitTime: options.maxWaitTimeMs ?? 100,
      minBytes: options.minBytes ?? 1,
      isolationLevel: lib.FetchIsolationLevels.READ_COMMITTED,
      autocommit: false,
      retries: 5,
      retryDelay: 200,
      timeout: 10000,
    });
    this.consumer = consumer;
    this.interceptHeartbeats(consumer, lib);
    const metadata = await consumer.metadata({ topics: [options.topic] });
    this.topicId = metadata.topics.get(options.topic)?.id;
    if (!this.topicId) throw new Error(`topic ${options.topic} does not exist`);
    if (options.sessionTimeoutMs !== undefined) await this.setSessionTimeout(lib, options.sessionTimeoutMs);
    // joins the group (the library joins only through consume()); the stream itself is never read:
    // a stream nobody reads never fetches, and the library must not resume it on a rebalance
    const stream = await consumer.consume({
      topics: [options.topic],
      autocommit: false,
      mode: lib.MessagesStreamModes.COMMITTED,
    });
    stream.resume = () => stream;
    stream.on('error', (e: Error) => this.logger?.warn({ err: e }, 'the unread membership stream failed'));
    this.memberId = consumer.memberId ?? '';
    this.setState('running');
    this.commitTimer = setInterval(() => void this.commit().catch(() => undefined), 1000);
    this.loop = this.run();
  }

  /**
   * The consumer protocol's session timeout is the group's (`consumer.session.timeout.ms`, a GROUP
   * config; the broker's `group.consumer.session.timeout.ms` otherwise), not the member's: set it so
   * a dead member's partitions move after `ms`, as with kafkajs's member session timeout. A broker
   * that refuses it (below its `group.consumer.min.session.timeout.ms`) keeps its default.
   */
  private async setSessionTimeout(lib: typeof Platformatic, ms: number): Promise<void> {
    const admin = new lib.Admin({
      clientId: this.options.clientId,
      bootstrapBrokers: this.options.brokers,
      timeout: 10000,
      retries: 2,
    });
    try {
      await admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: lib.ConfigResourceTypes.GROUP,
            resourceName: this.options.groupId,
            configs: [
              {
                name: 'consumer.session.timeout.ms',
                configOperation: lib.IncrementalAlterConfigOperationTypes.SET,
                value: String(ms),
              },
            ],
          },
        ],
      });
    } catch (e) {
      this.logger?.warn(
        { err: e, group: this.options.groupId, ms },
        'cannot set the group session timeout; the broker default applies',
      );
    } finally {
      await admin.close().catch(() => undefined);
    }
  }

  /**
   * Does this member still own `partition`? Assigned, not being revoked, and the coordinator accepts
   * the member's current epoch now: an OffsetFetch carries it (KIP-848 checks it; the library
   * heartbeats and retries after STALE_MEMBER_EPOCH). A fenced or unknown member owns nothing (false);
   * a coordinator that cannot be reached throws.
   */
  async confirmOwnership(partition: number): Promise<boolean> {
    const part = this.parts.get(partition);
    const consumer = this.consumer;
    if (!consumer || !this.wanted || !part || part.revoking) return false;
    try {
      await consumer.listCommittedOffsets({
        topics: [{ topic: this.options.topic, partitions: [partition] }],
      });
    } catch (e) {
      const find = (e as { findBy?: (k: string, v: string) => unknown }).findBy;
      if (
        find &&
        ['FENCED_MEMBER_EPOCH', 'UNKNOWN_MEMBER_ID', 'STALE_MEMBER_EPOCH'].some((id) =>
          find.call(e, 'apiId', id),
        )
      )
        return false;
      throw e;
    }
    return this.parts.get(partition) === part && !part.revoking && this.target.has(partition);
  }

  /** Continue from `offset` on the next fetch of that partition. */
  seek(partition: number, offset: number): void {
    const part = this.parts.get(partition);
    if (!part) return;
    part.position = offset;
    part.seeks += 1;
    this.wake?.();
  }

  pause(partitions: number[]): void {
    for (const p of partitions) {
      const part = this.parts.get(p);
      if (part) part.paused = true;
    }
  }

  resume(partitions: number[]): void {
    for (const p of partitions) {
      const part = this.parts.get(p);
      if (part) part.paused = false;
    }
    this.wake?.();
  }

  async stop(): Promise<void> {
    const wasRunning = this.wanted;
    this.wanted = false;
    this.wake?.();
    clearInterval(this.commitTimer);
    if (wasRunning) await this.loop?.catch(() => undefined);
    await this.commit().catch((e: unknown) => this.logger?.warn({ err: e }, 'final commit failed'));
    const consumer = this.consumer;
    if (consumer) await new Promise<void>((resolve) => consumer.close(true, () => resolve()));
    await this.assignmentTask;
    this.setState('stopped');
  }

  // ------------------------------------------------------------------ group membership

  /**
   * Wraps the library's ConsumerGroupHeartbeat so that (a) this class sees every assignment the
   * coordinator sends and (b) a revoked partition stays in the library's view until the handler
   * released it: the library acknowledges what it is told is gone with its next heartbeat.
   */
  private interceptHeartbeats(consumer: Consumer, lib: typeof Platformatic): void {
    const target = consumer as unknown as Record<symbol, (name: string, cb: Callback<Api>) => void>;
    const getApi = target[lib.kGetApi].bind(consumer);
    target[lib.kGetApi] = (name: string, cb: Callback<Api>) =>
      getApi(name, (error, api) => {
        if (error || name !== 'ConsumerGroupHeartbeat' || !api) return cb(error, api);
        const wrapped = ((...args: unknown[]) => {
          const done = args.pop() as Callback<HeartbeatResponse>;
          const leaving = args[3] === -1;
          api(...args, (e: Error | null, response?: HeartbeatResponse) => {
            if (leaving || !this.wanted) return done(e, response);
            if (e) {
              this.heartbeatFailed(e);
              return done(e, response);
            }
            if (this.beatFailures > 0)
              this.logger?.info({ group: this.options.groupId, failed: this.beatFailures }, 'heartbeats answered again');
            this.beatFailures = 0;
            this.lastBeat = Date.now();
            if (response && response.heartbeatIntervalMs > 0) this.beatEveryMs = response.heartbeatIntervalMs;
            if (!response) return done(null, response);
            try {
              this.reconcile(response);
            } catch (err) {
              return done(err as Error);
            }
            // a revocation that finishes quickly is acknowledged by the library's very next
            // heartbeat (sent as soon as it reads this answer) instead of one interval later
            const revoking = [...this.parts.values()].some((p) => p.revoking);
            const wait = revoking
              ? Promise.race([this.assignmentTask, sleep(ACK_WAIT_MS)])
              : Promise.resolve();
            void wait.then(() => done(null, this.libraryResponse(response)));
          });
        }) as Api;
        wrapped.version = api.version;
        cb(null, wrapped);
      });
  }

  private heartbeatFailed(error: Error): void {
    const response = (error as { response?: { errorCode?: number } }).response;
    const code = response?.errorCode;
    this.beatFailures += 1;
    if (this.beatFailures === 1 || this.beatFailures % 10 === 0)
      this.logger?.warn(
        { err: error, group: this.options.groupId, inARow: this.beatFailures, sinceLastAnswerMs: this.lastBeat ? Date.now() - this.lastBeat : null },
        'group heartbeat failed; the library retries',
      );
    if (code !== FENCED_MEMBER_EPOCH && code !== UNKNOWN_MEMBER_ID) return;
    // the library rejoins (epoch 0) only after FENCED_MEMBER_EPOCH; after UNKNOWN_MEMBER_ID (the
    // session expired, e.g. a pause longer than it) it would repeat the same heartbeat for ever
    if (response && code === UNKNOWN_MEMBER_ID) response.errorCode = FENCED_MEMBER_EPOCH;
    // fenced: the coordinator gave everything away already (the session expired); nothing to commit
    this.logger?.warn(
      { group: this.options.groupId, code },
      'fenced by the group coordinator: every partition is lost',
    );
    const lost = this.ownedPartitions;
    this.target = new Set();
    this.libraryView = [];
    this.parts.clear();
    if (lost.length > 0)
      this.notify({
        partitions: [],
        added: [],
        revoked: lost,
        memberId: this.memberId,
        generation: ++this.generation,
      });
  }

  /** Applies the coordinator's answer: revokes and adds. */
  private reconcile(response: HeartbeatResponse): void {
    if (response.memberId) this.memberId = response.memberId;
    const assignment = response.assignment?.topicPartitions;
    if (assignment) {
      const mine = assignment.find((tp) => tp.topicId === this.topicId)?.partitions ?? [];
      this.target = new Set(mine);
      const revoked = [...this.parts.values()]
        .filter((p) => !p.revoking && !this.target.has(p.partition))
        .map((p) => p.partition);
      const added = mine.filter((p) => !this.parts.has(p));
      if (revoked.length > 0) this.revoke(revoked);
      if (added.length > 0) this.add(added);
    }
  }

  /** The coordinator's answer as the library may see it. */
  private libraryResponse(response: HeartbeatResponse): HeartbeatResponse {
    const assignment = response.assignment?.topicPartitions;
    // what the library may believe it owns: the assignment plus what is still being revoked; it
    // acknowledges whatever leaves this view with its next heartbeat
    const withheld = [...this.parts.values()].filter((p) => p.revoking).map((p) => p.partition);
    const view = [...new Set([...this.target, ...withheld])].sort((a, b) => a - b);
    const same = view.length === this.libraryView.length && view.every((p, i) => p === this.libraryView[i]);
    if (same && (!assignment || withheld.length === 0)) return response;
    this.libraryView = view;
    const others: TopicPartitions = (assignment ?? []).filter((tp) => tp.topicId !== this.topicId);
    return {
      ...response,
      assignment: { topicPartitions: [...others, { topicId: this.topicId!, partitions: view }] },
    };
  }

  /** the partitions the library was last told it owns */
  private libraryView: number[] = [];

  private add(partitions: number[]): void {
    for (const p of partitions)
      this.parts.set(p, {
        partition: p,
        ready: false,
        revoking: false,
        paused: false,
        seeks: 0,
        busy: false,
      });
    const assignment: Assignment = {
      partitions: this.ownedPartitions.filter((p) => !this.parts.get(p)!.revoking),
      added: [...partitions].sort((a, b) => a - b),
      revoked: [],
      memberId: this.memberId,
      generation: ++this.generation,
    };
    this.logger?.info({ assignment }, 'partitions assigned');
    this.notify(assignment, async () => {
      const unknown = partitions.filter(
        (p) => this.parts.get(p)?.position === undefined && this.parts.get(p)?.seeks === 0,
      );
      const start = await this.startOffsets(unknown);
      for (const p of partitions) {
        const part = this.parts.get(p);
        if (!part || part.revoking) continue;
        if (part.position === undefined) part.position = start.get(p);
        part.ready = true;
      }
      this.wake?.();
    });
  }

  private revoke(partitions: number[]): void {
    for (const p of partitions) this.parts.get(p)!.revoking = true;
    const assignment: Assignment = {
      partitions: this.ownedPartitions.filter((p) => !this.parts.get(p)!.revoking),
      added: [],
      revoked: [...partitions].sort((a, b) => a - b),
      memberId: this.memberId,
      generation: ++this.generation,
    };
    this.logger?.info({ assignment }, 'partitions revoked');
    const started = Date.now();
    // the batch in flight finishes first (the handler's release waits for it too), then the handler
    // lets go, then what was resolved is committed; only then is the partition acknowledged as gone
    const idle = async () => {
      while (partitions.some((p) => this.parts.get(p)?.busy)) await sleep(5);
    };
    this.notify(
      assignment,
      async () => {
        await this.commit(partitions).catch((e: unknown) =>
          this.logger?.warn({ err: e, partitions }, 'commit before revocation failed'),
        );
        for (const p of partitions) if (this.parts.get(p)?.revoking) this.parts.delete(p);
        this.logger?.info({ partitions, ms: Date.now() - started }, 'partitions released');
      },
      idle,
    );
  }

  /** Runs the handler's hook for `assignment` after the ones before it; `then` after it, `before` first. */
  private notify(assignment: Assignment, then?: () => Promise<void>, before?: () => Promise<void>): void {
    const { handler, logger } = this;
    this.assignmentTask = this.assignmentTask
      .then(() => before?.())
      .then(() => handler.onAssignment?.(assignment))
      .catch((e: unknown) =>
        logger?.error({ err: e, assignment }, 'the handler failed to apply an assignment'),
      )
      .then(() => then?.())
      .catch((e: unknown) =>
        logger?.error({ err: e, assignment }, 'cannot position the assigned partitions'),
      );
  }

  /** The committed offset of each partition, or the log start (end) when there is none. */
  private async startOffsets(partitions: number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    if (partitions.length === 0) return out;
    const { topic, fromBeginning = true } = this.options;
    const consumer = this.consumer!;
    for (let attempt = 1; ; attempt++) {
      try {
        const committed =
          (await consumer.listCommittedOffsets({ topics: [{ topic, partitions }] })).get(topic) ?? [];
        const missing = partitions.filter((p) => committed[p] === undefined || committed[p] < 0n);
        for (const p of partitions) if (!missing.includes(p)) out.set(p, Number(committed[p]));
        if (missing.length > 0) {
          const ends =
            (
              await consumer.listOffsets({
                topics: [topic],
                partitions: { [topic]: missing },
                timestamp: fromBeginning ? -2n : -1n,
              })
            ).get(topic) ?? [];
          for (const p of missing) out.set(p, Number(ends[p] ?? 0n));
        }
        return out;
      } catch (e) {
        if (!this.wanted || attempt >= 20) throw e;
        this.logger?.warn({ err: e, attempt }, 'cannot read the committed offsets; retrying');
        await sleep(Math.min(2000, 100 * attempt));
      }
    }
  }

  // ------------------------------------------------------------------ fetching

  private fetchable(): Owned[] {
    return [...this.parts.values()].filter(
      (p) => p.ready && !p.revoking && !p.paused && !p.busy && p.position !== undefined,
    );
  }

  private async idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
    this.wake = undefined;
  }

  private async run(): Promise<void> {
    let backoff = 0;
    while (this.wanted) {
      const parts = this.fetchable();
      if (parts.length === 0) {
        await this.idle(50);
        continue;
      }
      try {
        const began = Date.now();
        await this.fetchOnce(parts);
        backoff = 0;
        // minBatchIntervalMs (AGGREGATOR_COMMIT_INTERVAL_MS): after a round that handed batches over,
        // the next fetch no sooner than the interval after its last hand-over, so every partition's
        // batches are that far apart (a seek, resume or stop ends the wait)
        const rest = this.handedAt >= began ? this.handedAt + (this.options.minBatchIntervalMs ?? 0) - Date.now() : 0;
        if (rest > 0 && this.wanted) await this.idle(rest);
      } catch (e) {
        if (!this.wanted) break;
        backoff = Math.min(5000, backoff === 0 ? 200 : backoff * 2);
        this.current.lastError = e instanceof Error ? e.message : String(e);
        this.logger?.warn({ err: e, group: this.options.groupId, inMs: backoff }, 'fetch failed; retrying');
        this.consumer?.clearMetadata();
        if ((e as { findBy?: (k: string, v: string) => unknown }).findBy?.('apiId', 'OFFSET_OUT_OF_RANGE'))
          await this.resetOutOfRange(parts).catch(() => undefined);
        await this.idle(backoff);
      }
    }
  }

  /** Positions outside the log (truncated, or a seek past its end) go to the log start (or end). */
  private async resetOutOfRange(parts: Owned[]): Promise<void> {
    const { topic, fromBeginning = true } = this.options;
    const partitions = parts.map((p) => p.partition);
    const consumer = this.consumer!;
    const [low, high] = await Promise.all(
      [-2n, -1n].map(
        async (timestamp) =>
          (
            await consumer.listOffsets({ topics: [topic], partitions: { [topic]: partitions }, timestamp })
          ).get(topic) ?? [],
      ),
    );
    for (const part of parts) {
      const lo = Number(low[part.partition] ?? 0n);
      const hi = Number(high[part.partition] ?? 0n);
      if (part.position !== undefined && part.position >= lo && part.position <= hi) continue;
      this.logger?.warn(
        { partition: part.partition, position: part.position, low: lo, high: hi },
        'offset out of range: reset',
      );
      part.position = fromBeginning ? lo : hi;
      part.seeks += 1;
    }
  }

  private async fetchOnce(parts: Owned[]): Promise<void> {
    const { topic } = this.options;
    const consumer = this.consumer!;
    const metadata = await consumer.metadata({ topics: [topic] });
    const info = metadata.topics.get(topic)!;
    const byLeader = new Map<number, Array<{ part: Owned; offset: number; seeks: number; epoch: number }>>();
    for (const part of parts) {
      const { leader, leaderEpoch } = info.partitions[part.partition];
      const list = byLeader.get(leader) ?? [];
      list.push({ part, offset: part.position!, seeks: part.seeks, epoch: leaderEpoch });
      byLeader.set(leader, list);
    }
    const limit = Math.max(1, this.options.partitionsConsumedConcurrently ?? 1);
    await Promise.all(
      [...byLeader].map(async ([leader, asked]) => {
        for (const a of asked) a.part.busy = true;
        try {
          const response = await consumer.fetch({
            node: leader,
            topics: [
              {
                topicId: info.id,
                partitions: asked.map((a) => ({
                  partition: a.part.partition,
                  fetchOffset: BigInt(a.offset),
                  partitionMaxBytes: this.options.maxBytesPerPartition ?? 1048576,
                  currentLeaderEpoch: a.epoch,
                  lastFetchedEpoch: -1,
                })),
              },
            ],
          });
          const answers = response.responses.flatMap((t) => t.partitions);
          const work = asked.map((a) => () => {
            const answer = answers.find((r) => r.partitionIndex === a.part.partition);
            return answer ? this.deliver(a.part, a.offset, a.seeks, answer) : Promise.resolve();
          });
          await runLimited(work, limit);
        } finally {
          for (const a of asked) a.part.busy = false;
        }
      }),
    );
  }

  private async deliver(
    part: Owned,
    fetchedAt: number,
    seeks: number,
    answer: { highWatermark: bigint; records?: RecordsBatch[] },
  ): Promise<void> {
    const batches = answer.records ?? [];
    if (batches.length === 0 || part.seeks !== seeks || part.revoking || !this.wanted) return;
    const p = part.partition;
    const records: ConsumedRecord[] = [];
    for (const batch of batches) {
      if (batch.attributes & IS_CONTROL) continue;
      for (const r of batch.records) {
        const offset = Number(batch.firstOffset + BigInt(r.offsetDelta));
        if (offset < fetchedAt) continue;
        records.push({
          partition: p,
          offset,
          key: r.key ? r.key.toString('utf8') : null,
          keyBytes: r.key,
          value: r.value,
          timestamp: Number(batch.firstTimestamp + r.timestampDelta),
          headers: r.headers.length > 0 ? headersOf(r.headers) : NO_HEADERS,
        });
      }
    }
    const last = batches[batches.length - 1];
    const lastOffset = Number(last.firstOffset + BigInt(last.lastOffsetDelta));
    if (lastOffset < fetchedAt) return;
    if (records.length === 0) {
      part.position = lastOffset + 1;
      this.handler.onPosition?.(p, lastOffset);
      return;
    }
    let held = false;
    const ctx: BatchContext = {
      // heartbeats run by themselves; "confirm" = still assigned, and the coordinator answered lately
      heartbeat: async () => {
        if (!this.wanted || part.revoking || this.parts.get(p) !== part)
          throw new Error(`partition ${p} is no longer owned by this member`);
        const silent = Date.now() - this.lastBeat;
        if (silent > Math.max(CONFIRM_WITHIN_MS, 2 * this.beatEveryMs + 1000))
          throw new Error(`partition ${p}: no heartbeat answer from the group coordinator for ${silent} ms`);
      },
      isRunning: () => this.wanted,
      isStale: () => part.revoking || this.parts.get(p) !== part,
      highWatermark: Number(answer.highWatermark),
      lastOffset,
      holdOffsets: () => {
        held = true;
      },
    };
    try {
      this.handedAt = Date.now();
      await this.handler.handleBatch(p, records, ctx);
    } catch (e) {
      // kafkajs crashes and redelivers from the last commit; here the same batch is fetched again
      this.current.lastError = e instanceof Error ? e.message : String(e);
      this.current.restarts += 1;
      this.setState('restarting');
      this.logger?.error(
        { err: e, partition: p, group: this.options.groupId },
        'the handler failed a batch; fetching it again',
      );
      await sleep(Math.min(5000, 200 * this.current.restarts));
      // running again (the batch is fetched anew, unless its partition went meanwhile: then no
      // record may come for a long time, and a consumer waiting for one is not dead; kafkajs is
      // `running` again once it has rejoined, records or not); one that fails again is
      // `restarting` again
      if (this.wanted) this.setState('running');
      return;
    }
    this.setState('running');
    if (part.seeks === seeks) part.position = lastOffset + 1;
    if (!held) part.toCommit = lastOffset + 1;
  }

  /** Commits what the handler resolved (all partitions, or `only`). */
  private async commit(only?: number[]): Promise<void> {
    const consumer = this.consumer;
    if (!consumer) return;
    const offsets: Array<{ topic: string; partition: number; offset: bigint; leaderEpoch: number }> = [];
    const parts = only
      ? only.map((p) => this.parts.get(p)).filter((p) => p !== undefined)
      : [...this.parts.values()];
    for (const part of parts) {
      if (part.toCommit === undefined) continue;
      offsets.push({
        topic: this.options.topic,
        partition: part.partition,
        offset: BigInt(part.toCommit),
        leaderEpoch: -1,
      });
    }
    if (offsets.length === 0) return;
    await consumer.commit({ offsets });
    for (const o of offsets) {
      const part = this.parts.get(o.partition);
      if (part && part.toCommit === Number(o.offset)) part.toCommit = undefined;
    }
  }

  private setState(state: ConsumerStatus['state']): void {
    if (this.current.state === state) return;
    this.current = { ...this.current, state, since: Date.now() };
    if (state === 'running') delete this.current.lastError;
  }
}

function headersOf(headers: Array<[Buffer | null, Buffer | null]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of headers) if (k) out[k.toString('utf8')] = v ? v.toString('utf8') : '';
  return out;
}

/** Runs the tasks with at most `limit` at a time. */
async function runLimited(tasks: Array<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}
