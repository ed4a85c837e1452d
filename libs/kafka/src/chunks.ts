/**
 * Size discipline for everything we produce: a produce request carries one record batch per
 * partition, and the broker refuses a batch larger than max.message.bytes (1 MiB by default). So
 * records are sent in chunks whose summed size stays under a budget, and a single record that could
 * never fit (a dead letter of a huge poison record) is cut down to fit, with headers saying so —
 * never dropped in silence and never allowed to fail the whole send.
 */
export interface SizedRecord {
  key: string | Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string>;
}

/** Per-record overhead in a v2 record batch (varints, attributes, offsets) — a safe upper bound. */
const RECORD_OVERHEAD = 32;
/** The record batch header (61 bytes) plus slack. */
export const BATCH_OVERHEAD = 128;
/** Default budget for one chunk: well under the broker's 1 MiB default. */
export const DEFAULT_CHUNK_BYTES = 900 * 1024;

export function recordSize(r: SizedRecord): number {
  let n = RECORD_OVERHEAD;
  if (r.key !== null) n += typeof r.key === 'string' ? Buffer.byteLength(r.key) : r.key.length;
  if (r.value !== null) n += r.value.length;
  if (r.headers) for (const k in r.headers) n += Buffer.byteLength(k) + Buffer.byteLength(r.headers[k]) + 8;
  return n;
}

/** Splits records, in order, into chunks of at most `budget` bytes (a record larger than the budget goes alone). */
export function chunkBySize<T extends SizedRecord>(records: readonly T[], budget = DEFAULT_CHUNK_BYTES): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = BATCH_OVERHEAD;
  for (const r of records) {
    const n = recordSize(r);
    if (current.length > 0 && size + n > budget) {
      chunks.push(current);
      current = [];
      size = BATCH_OVERHEAD;
    }
    current.push(r);
    size += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * A record that fits `budget`: unchanged when it does; otherwise its value (and, if even that is not
 * enough, its key) is cut to what fits, and headers `truncated: true` and `original-bytes: <n>` (and
 * `original-key-bytes`) say so. A dead letter keeps its reason, its source and a prefix of the bytes,
 * which is what an operator needs to find the producer at fault.
 */
export function fitRecord<T extends SizedRecord>(r: T, budget = DEFAULT_CHUNK_BYTES): T {
  if (recordSize(r) + BATCH_OVERHEAD <= budget) return r;
  const headers: Record<string, string> = { ...(r.headers ?? {}), truncated: 'true' };
  if (r.value !== null) headers['original-bytes'] = String(r.value.length);
  const keyBytes = r.key === null ? null : typeof r.key === 'string' ? Buffer.from(r.key) : r.key;
  let key: Buffer | null = keyBytes;
  let room = budget - BATCH_OVERHEAD - recordSize({ key, value: Buffer.alloc(0), headers });
  if (room < 0 && keyBytes) {
    headers['original-key-bytes'] = String(keyBytes.length);
    key = keyBytes.subarray(0, Math.max(0, keyBytes.length + room - 64));
    room = budget - BATCH_OVERHEAD - recordSize({ key, value: Buffer.alloc(0), headers });
  }
  const value = r.value === null ? null : r.value.subarray(0, Math.max(0, room));
  return { ...r, key, value, headers };
}
