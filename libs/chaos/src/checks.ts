import type { EventCodec } from '@doubletap/events';
import { readRanges, topicOffsets, type Kafka } from '@doubletap/kafka';
import { ApiCountSource, checkCounts, HttpClient, type CheckResult, type GroundTruth } from '@doubletap/loadgen';

/** How the 202'd eventIds appear in likes.events. */
export interface LogCheck {
  /** records read back */
  records: number;
  /** 202'd ids absent from the log */
  missing: number;
  /** 202'd ids present more than once */
  duplicated: number;
  /** a few of them, for the report */
  examples: string[];
}

/** Every record of `topic` from its log start to its end now. */
async function readAll(kafka: Kafka, topic: string, onRecord: (value: Buffer | null) => void | Promise<void>): Promise<number> {
  const ends = await topicOffsets(kafka, topic);
  const { records } = await readRanges({
    kafka,
    topic,
    ranges: ends.map((e) => ({ partition: e.partition, from: e.low, to: e.high })),
    onBatch: async (_p, batch) => {
      for (const r of batch) await onRecord(r.value);
    },
  });
  return records;
}

/** Committed records in `topic` now (read back, so transaction markers and aborted sends do not count). */
export function countRecords(kafka: Kafka, topic: string): Promise<number> {
  return readAll(kafka, topic, () => undefined);
}

/** Reads likes.events back and counts each 202'd eventId in it (undecodable records are skipped). */
export async function checkAcceptedInLog(kafka: Kafka, codec: EventCodec, topic: string, accepted: readonly string[]): Promise<LogCheck> {
  const seen = new Map<string, number>();
  for (const id of accepted) seen.set(id, 0);
  const records = await readAll(kafka, topic, async (value) => {
    let eventId: string;
    try {
      eventId = (codec.decodeLikeSync(value) ?? (await codec.decodeLike(value))).eventId;
    } catch {
      return; // poison: not an event anybody was answered 202 for
    }
    const n = seen.get(eventId);
    if (n !== undefined) seen.set(eventId, n + 1);
  });
  const missing = [...seen].filter(([, n]) => n === 0).map(([id]) => id);
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  return {
    records,
    missing: missing.length,
    duplicated: duplicated.length,
    examples: [...missing.slice(0, 3).map((id) => `missing ${id}`), ...duplicated.slice(0, 3).map((id) => `duplicated ${id}`)],
  };
}

/**
 * Keys of likes.counts whose last record does not carry the highest source offset written for them:
 * those a compaction would turn into a stale (backwards) count.
 */
export async function staleCountKeys(kafka: Kafka, codec: EventCodec, topic: string): Promise<number> {
  const highest = new Map<string, number>();
  const last = new Map<string, number>();
  await readAll(kafka, topic, async (value) => {
    if (!value) return;
    const c = codec.decodeCountSync(value) ?? (await codec.decodeCount(value));
    const key = `${c.postId}/${c.partition}`;
    const offset = Number(c.sourceOffset);
    highest.set(key, Math.max(highest.get(key) ?? -1, offset));
    last.set(key, offset);
  });
  let stale = 0;
  for (const [key, offset] of last) if (offset < (highest.get(key) ?? -1)) stale++;
  return stale;
}

/** The read API's counts against the generator's ground truth, waiting up to waitMs for them to match. */
export async function checkReadApi(apiUrl: string, truth: GroundTruth, token: string, waitMs: number): Promise<CheckResult> {
  const base = new URL(apiUrl);
  const client = new HttpClient(base, 4, 10_000);
  try {
    const source = new ApiCountSource(client, base, { authorization: `Bearer ${token}` }, { stream: false, pollMs: 200 });
    return await checkCounts(source, truth, { waitMs, pollMs: 500 });
  } finally {
    client.close();
  }
}
