import { InvalidEventError, wireSchemaId, type LikeEvent } from '@doubletap/events';
import type { ConsumedRecord } from '@doubletap/kafka';
import { isLikeKey, likeKey, partitionForKey } from '@doubletap/likes';
import type { AggregatorCodec, DeadLetterReason } from './types';

export interface DeadRecord {
  record: ConsumedRecord;
  reason: DeadLetterReason;
  detail: string;
}

export interface DecodedBatch {
  /** valid events of this partition, in offset order */
  events: LikeEvent[];
  /** `keys[i]` is the likeKey of `events[i]` (its record's key, checked): built once, here */
  keys: string[];
  dead: DeadRecord[];
}

/** The record could not be judged (the schema registry did not answer): retry, never dead-letter. */
export class DecodeBlockedError extends Error {
  constructor(readonly offset: number, cause: unknown) {
    super(`record at offset ${offset} cannot be decoded now: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DecodeBlockedError';
  }
}


/**
 * Decode and route, record by record (in offset order, no promise per record: the writer schemas a
 * batch needs are fetched first, in one round): bytes that are poison become dead letters
 * ('undecodable', 'invalid'); a valid event whose key or home partition is not this partition's
 * becomes a 'wrong-partition' dead letter (counting it here would count it where its (post, user)
 * does not live). A record the codec cannot judge now (the registry is unreachable) stops the batch
 * with DecodeBlockedError: nothing of it is applied, the caller waits and tries the batch again.
 */
export class RecordDecoder {
  constructor(
    private readonly codec: AggregatorCodec,
    private readonly partition: number,
    /** the pinned partition count keys are routed over */
    private readonly partitions: number,
  ) {}

  async decode(records: readonly ConsumedRecord[]): Promise<DecodedBatch> {
    await this.prefetch(records);
    const events: LikeEvent[] = [];
    const keys: string[] = [];
    const dead: DeadRecord[] = [];
    for (const record of records) {
      let event: LikeEvent | undefined;
      try {
        event = this.codec.decodeLikeSync(record.value);
      } catch (e) {
        if (!(e instanceof InvalidEventError)) throw new DecodeBlockedError(record.offset, e);
        dead.push({ record, reason: e.reason, detail: e.message });
        continue;
      }
      // prefetch resolved every id of the batch: a schema that is still missing was evicted meanwhile
      if (event === undefined) throw new DecodeBlockedError(record.offset, new Error('writer schema not cached'));
      const key = record.key;
      if (!isLikeKey(key, event.postId, event.userId)) {
        dead.push({
          record,
          reason: 'wrong-partition',
          detail: `record key ${JSON.stringify(record.key)} is not the event's key ${likeKey(event.postId, event.userId)}`,
        });
        continue;
      }
      const home = partitionForKey(record.keyBytes ?? key, this.partitions);
      if (home !== this.partition) {
        dead.push({
          record,
          reason: 'wrong-partition',
          detail: `${key} belongs to partition ${home} of ${this.partitions}, not ${this.partition}`,
        });
        continue;
      }
      events.push(event);
      keys.push(key);
    }
    return { events, keys, dead };
  }

  /** One registry round for the batch's writer schemas the codec does not know yet (usually none). */
  private async prefetch(records: readonly ConsumedRecord[]): Promise<void> {
    let ids: Set<number> | undefined;
    let seen = -1;
    const checked = new Set<number>();
    for (const record of records) {
      let id: number;
      try {
        id = wireSchemaId(record.value);
      } catch {
        continue; // poison by its header: the decode pass dead-letters it
      }
      // one probe per distinct id (a batch nearly always carries one)
      if (id === seen || checked.has(id)) continue;
      seen = id;
      checked.add(id);
      try {
        if (this.codec.decodeLikeSync(record.value) !== undefined) continue;
      } catch {
        continue; // this record is poison; another with the same id may still be fine, and its schema is cached
      }
      (ids ??= new Set()).add(id);
    }
    if (!ids) return;
    try {
      await this.codec.prefetch(ids);
    } catch (e) {
      throw new DecodeBlockedError(records[0].offset, e);
    }
  }
}
