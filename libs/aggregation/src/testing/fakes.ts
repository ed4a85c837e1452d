import { InvalidEventError, RegistryUnavailableError, wireSchemaId, type CountChanged, type LikeEvent } from '@doubletap/events';
import { ProducerFencedError, type BatchContext, type ConsumedRecord, type PartitionOffsets, type TopicIdentity, type TxRecord } from '@doubletap/kafka';
import { likeKey, type LikeAction } from '@doubletap/likes';
import { createLogger } from '@doubletap/observability';
import { Registry } from 'prom-client';
import { createAggregatorMetrics } from '../metrics';
import type { TxSender } from '../record-collector';
import type { AggregatorCodec, InputTopicView, PartitionControl } from '../types';
import { parseOffsetRecord, type ChangelogIO, type ChangelogState } from '../changelog';
import type { ChangelogFetch, ChangelogTail } from '../standby-tail';
import type { SourceIdentity, StoreEntry } from '@doubletap/store';

// Fakes for the aggregation unit tests: no broker, no registry. The store is a real LevelDB in a
// temp folder (local, fast), so the tests exercise the real atomic-write and reopen behaviour.

export const quietLogger = createLogger('aggregator-test', 'silent');
export const freshMetrics = () => createAggregatorMetrics(new Registry());

/** Wire format of the fake codec: magic 0, a 4-byte schema id, then JSON. */
export function encode(schemaId: number, body: unknown): Buffer {
  const header = Buffer.alloc(5);
  header.writeInt32BE(schemaId, 1);
  return Buffer.concat([header, Buffer.from(JSON.stringify(body))]);
}

let seq = 0;
export function likeEvent(postId: string, userId: string, action: LikeAction): LikeEvent {
  seq++;
  return { eventId: `0190b6a8-0000-7000-8000-${String(seq).padStart(12, '0')}`, postId, userId, action, occurredAt: 0 };
}

/** A codec whose registry knows `known` schema ids and can be "down". */
export class FakeCodec implements AggregatorCodec {
  readonly known = new Set<number>();
  registryDown = false;
  prefetches = 0;

  constructor(readonly registered = new Set<number>([1])) {}

  decodeLikeSync(value: Buffer | null): LikeEvent | undefined {
    const id = wireSchemaId(value);
    if (!this.known.has(id)) return undefined;
    let body: LikeEvent;
    try {
      body = JSON.parse(value!.subarray(5).toString('utf8')) as LikeEvent;
    } catch (e) {
      throw new InvalidEventError('undecodable', `undecodable body: ${(e as Error).message}`);
    }
    if (typeof body.eventId !== 'string' || !body.eventId.startsWith('0190')) throw new InvalidEventError('invalid', `eventId ${String(body.eventId)} is not a UUIDv7`);
    return body;
  }

  async prefetch(ids: Iterable<number>): Promise<void> {
    this.prefetches++;
    for (const id of ids) {
      if (this.registryDown) throw new RegistryUnavailableError(id, new Error('connect ECONNREFUSED'));
      if (!this.registered.has(id)) throw new InvalidEventError('undecodable', `unknown schema id ${id}`);
      this.known.add(id);
    }
  }

  async encodeCount(change: CountChanged): Promise<Buffer> {
    return encode(2, change);
  }

  static countOf(value: Buffer | null): CountChanged {
    return JSON.parse(value!.subarray(5).toString('utf8')) as CountChanged;
  }
}

/** Records of one partition in offset order, from events (key = likeKey, value = the fake wire format). */
export function records(partition: number, from: number, events: Array<LikeEvent | { key: string; value: Buffer | null }>): ConsumedRecord[] {
  return events.map((e, i) => {
    const raw = 'value' in e && !('eventId' in e) ? e : undefined;
    const event = raw ? undefined : (e as LikeEvent);
    return {
      partition,
      offset: from + i,
      key: raw ? raw.key : likeKey(event!.postId, event!.userId),
      value: raw ? raw.value : encode(1, event),
      timestamp: 0,
      headers: {},
    };
  });
}

/** Output producers that commit into memory; `failNext` makes the next sends fail, `fence` fences them. */
export class FakeKafkaOutput {
  readonly committed: TxRecord[][] = [];
  opened = 0;
  failNext = 0;
  fenced = false;
  open = async (): Promise<TxSender> => {
    this.opened++;
    const output = this as FakeKafkaOutput;
    let usable = true;
    return {
      get usable() {
        return usable;
      },
      async send(recs: readonly TxRecord[]) {
        if (output.fenced) {
          usable = false;
          throw new ProducerFencedError('fake', new Error('fenced'));
        }
        if (output.failNext > 0) {
          output.failNext--;
          usable = false;
          throw new Error('request timed out');
        }
        output.committed.push([...recs]);
      },
      async close() {
        usable = false;
      },
    };
  };

  /** Every committed record of `topic`, in commit order. */
  of(topic: string): TxRecord[] {
    return this.committed.flat().filter((r) => r.topic === topic);
  }
}

export class FakeInput implements InputTopicView {
  identityValue: TopicIdentity | undefined;
  offsetsValue: PartitionOffsets[];
  constructor(topic: string, partitions: number, topicId = 'topic-id-1') {
    this.identityValue = { topic, topicId, partitions };
    this.offsetsValue = Array.from({ length: partitions }, (_, p) => ({ partition: p, low: 0, high: 0 }));
  }
  async identity() {
    return this.identityValue;
  }
  async offsets() {
    return this.offsetsValue;
  }
  set(partition: number, low: number, high: number): void {
    this.offsetsValue = this.offsetsValue.map((o) => (o.partition === partition ? { partition, low, high } : o));
  }
}

export class FakeControl implements PartitionControl {
  readonly seeks: Array<[number, number]> = [];
  readonly paused = new Set<number>();
  /** what the coordinator answers (a function of the partition), or an error when it cannot be asked */
  ownership: (partition: number) => boolean | Error = () => true;
  readonly confirmations: number[] = [];
  async confirmOwnership(partition: number): Promise<boolean> {
    this.confirmations.push(partition);
    const answer = this.ownership(partition);
    if (answer instanceof Error) throw answer;
    return answer;
  }
  seek(partition: number, offset: number): void {
    this.seeks.push([partition, offset]);
  }
  pause(partitions: number[]): void {
    for (const p of partitions) this.paused.add(p);
  }
  resume(partitions: number[]): void {
    for (const p of partitions) this.paused.delete(p);
  }
}

export function batchContext(overrides: Partial<BatchContext> = {}): BatchContext & { held: boolean } {
  const ctx = {
    held: false,
    heartbeat: async () => undefined,
    isRunning: () => true,
    isStale: () => false,
    highWatermark: 0,
    lastOffset: 0,
    holdOffsets() {
      ctx.held = true;
    },
    ...overrides,
  };
  return ctx;
}

/** The changelog as the fake output committed it: offsets are positions in the partition's list. */
export class FakeChangelog implements ChangelogIO {
  private readonly low = new Map<number, number>();
  constructor(
    private readonly output: FakeKafkaOutput,
    readonly topic: string,
  ) {}

  private records(partition: number): TxRecord[] {
    return this.output.of(this.topic).filter((r) => r.partition === partition);
  }

  async inspect(partitions: readonly number[]): Promise<Map<number, ChangelogState>> {
    const out = new Map<number, ChangelogState>();
    for (const p of partitions) {
      const records = this.records(p);
      const state: ChangelogState = { partition: p, low: this.low.get(p) ?? 0, high: records.length };
      for (let i = state.low; i < records.length; i++) {
        const r = records[i];
        if (r.key === 'meta/offset' && r.value === null) Object.assign(state, { offset: undefined, offsetAt: undefined, epochStart: undefined });
        if (r.key === 'meta/offset' && r.value)
          Object.assign(state, { offset: parseOffsetRecord(r.value).offset, offsetAt: i, epochStart: parseOffsetRecord(r.value).epochStart });
        if (r.key === 'meta/source' && r.value) state.source = JSON.parse(r.value.toString()) as SourceIdentity;
      }
      out.set(p, state);
    }
    return out;
  }

  async read(partition: number, from: number, to: number, onEntries: (entries: StoreEntry[]) => Promise<void>): Promise<void> {
    const slice = this.records(partition).slice(Math.max(from, this.low.get(partition) ?? 0), to);
    await onEntries(slice.map((r) => ({ key: String(r.key), value: r.value === null ? null : r.value.toString() })));
  }

  /** records read through tails (standbys and promotions), per partition */
  readonly tailed = new Map<number, number>();
  /** at most this many records per fetch (a standby then catches up over several rounds) */
  tailChunk = 1000;

  openTail(): ChangelogTail {
    return {
      fetch: async (positions) => {
        const out = new Map<number, ChangelogFetch>();
        for (const [p, from] of positions) {
          const all = this.records(p);
          const low = this.low.get(p) ?? 0;
          if (from < low || from > all.length) {
            out.set(p, { kind: 'out-of-range', low, high: all.length });
            continue;
          }
          const to = Math.min(all.length, from + this.tailChunk);
          const records = all.slice(from, to).map((r, i) => ({ offset: from + i, key: String(r.key), value: r.value === null ? null : r.value.toString() }));
          this.tailed.set(p, (this.tailed.get(p) ?? 0) + records.length);
          out.set(p, { kind: 'records', records, next: to, end: all.length });
        }
        if ([...out.values()].every((r) => r.kind === 'records' && r.records.length === 0)) await new Promise((r) => setTimeout(r, 5));
        return out;
      },
      close: async () => undefined,
    };
  }

  async truncate(partition: number): Promise<number> {
    const end = this.records(partition).length;
    this.low.set(partition, end);
    return end;
  }
}
