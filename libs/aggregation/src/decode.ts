import type { LikeEvent } from '@doubletap/events';
import type { ConsumedRecord } from '@doubletap/kafka';
import { likeKey, partitionForKey } from '@doubletap/likes';
import type { AggregatorCodec, DeadLetterReason } from './types';

export interface DeadRecord {
  record: ConsumedRecord;
  reason: DeadLetterReason;
  detail: string;
}

export interface DecodedBatch {
  /** valid events of this partition, in offset order */
  events: LikeEvent[];
  dead: DeadRecord[];
}

/** The record could not be judged (the schema registry did not answer): retry, never dead-letter. */
export class DecodeBlockedError extends Error {
  constructor(readonly offset: number, cause: unknown) {
    super(`record at offset ${offset} cannot be decoded now: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'DecodeBlockedError';
  }
}

function isPoison(e: unknown): e is Error & { reason?: string } {
  return e instanceof Error && e.name === 'InvalidEventError';
}

function poisonReason(e: Error & { reason?: string }): DeadLetterReason {
  if (e.reason === 'undecodable' || e.reason === 'invalid') return e.reason;
  return /^(value is empty|unknown magic|undecodable|unknown schema id)/i.test(e.message) ? 'undecodable' : 'invalid';
}

/**
 * Decode and route, record by record (in offset order): bytes that are poison become dead letters
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
    const events: LikeEvent[] = [];
    const dead: DeadRecord[] = [];
    const sync = this.codec.decodeLikeSync?.bind(this.codec);
    for (const record of records) {
      let event: LikeEvent | undefined;
      try {
        event = sync?.(record.value);
        if (event === undefined) event = await this.codec.decodeLike(record.value);
      } catch (e) {
        if (!isPoison(e)) throw new DecodeBlockedError(record.offset, e);
        dead.push({ record, reason: poisonReason(e), detail: e.message });
        continue;
      }
      const key = likeKey(event.postId, event.userId);
      if (record.key !== key) {
        dead.push({
          record,
          reason: 'wrong-partition',
          detail: `record key ${JSON.stringify(record.key)} is not the event's key ${key}`,
        });
        continue;
      }
      const home = partitionForKey(key, this.partitions);
      if (home !== this.partition) {
        dead.push({
          record,
          reason: 'wrong-partition',
          detail: `${key} belongs to partition ${home} of ${this.partitions}, not ${this.partition}`,
        });
        continue;
      }
      events.push(event);
    }
    return { events, dead };
  }
}
