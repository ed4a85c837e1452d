import { ClassicLevel } from 'classic-level';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The state of one input partition in its own LevelDB (classic-level) database at `<dataDir>/p-<p>`:
 *
 *   m/<postId>/<userId>  present = liked
 *   c/<postId>           partial count of the post in this partition (decimal)
 *   o/<postId>           outbox: the CountChanged (JSON) not yet acknowledged by Kafka
 *   meta/offset          last input offset applied (decimal)
 *
 * Every batch is written with one atomic LevelDB batch (state + outbox + offset), so after any crash
 * the store is exactly "all events up to meta/offset applied", and resuming after it applies each
 * event once. Writes are not fsync'ed: a killed process loses nothing (the OS has the log), a lost
 * machine rolls back to an earlier consistent offset and replays from Kafka.
 */
export interface OutboxEntry {
  postId: string;
  partition: number;
  count: number;
  sourceOffset: number;
}

export interface BatchWrite {
  /** membership edits: key `<postId>/<userId>` → liked */
  membership: ReadonlyMap<string, boolean>;
  /** absolute partial counts per post after the batch */
  counts: ReadonlyMap<string, number>;
  /** CountChanged records to keep until Kafka acknowledged them */
  outbox: readonly OutboxEntry[];
  /** last input offset of the batch (applied or dead-lettered) */
  offset: number;
}

export class StoreOpenError extends Error {
  constructor(
    readonly partition: number,
    readonly path: string,
    cause: unknown,
  ) {
    super(
      `cannot open the store of partition ${partition} at ${path}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = 'StoreOpenError';
  }
}

const MEMBER = 'm/';
const COUNT = 'c/';
const OUTBOX = 'o/';
const OFFSET = 'meta/offset';
/** LevelDB orders keys bytewise: '0' sorts after '/', so `x/` … `x0` spans every key of prefix x/ */
const end = (prefix: string): string => prefix.slice(0, -1) + '0';

export function storePath(dataDir: string, partition: number): string {
  return join(dataDir, `p-${partition}`);
}

export class PartitionStore {
  private offset: number | undefined;
  private closed = false;

  private constructor(
    readonly partition: number,
    readonly path: string,
    private readonly db: ClassicLevel<string, string>,
  ) {}

  /** Opens (creating if missing) the store of `partition` under `dataDir`. */
  static async open(dataDir: string, partition: number): Promise<PartitionStore> {
    const path = storePath(dataDir, partition);
    let db: ClassicLevel<string, string> | undefined;
    try {
      await mkdir(path, { recursive: true });
      db = new ClassicLevel<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
      await db.open();
      const store = new PartitionStore(partition, path, db);
      const raw = await db.get(OFFSET);
      store.offset = raw === undefined ? undefined : parseOffset(raw, path);
      return store;
    } catch (e) {
      if (db) await db.close().catch(() => undefined);
      throw e instanceof StoreOpenError ? e : new StoreOpenError(partition, path, e);
    }
  }

  /** Last applied input offset, or undefined for a store that has never applied anything. */
  lastOffset(): number | undefined {
    return this.offset;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /** One multi-get: liked (true) or not for each `<postId>/<userId>` key. */
  async getMembership(keys: readonly string[]): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    if (keys.length === 0) return out;
    const values = await this.db.getMany(keys.map((k) => MEMBER + k));
    keys.forEach((k, i) => out.set(k, values[i] !== undefined));
    return out;
  }

  /** Membership and partial counts in one multi-get (the hot path reads both per batch). */
  async getState(
    memberKeys: readonly string[],
    postIds: readonly string[],
  ): Promise<{ membership: Map<string, boolean>; counts: Map<string, number> }> {
    const values = await this.db.getMany([...memberKeys.map((k) => MEMBER + k), ...postIds.map((p) => COUNT + p)]);
    const membership = new Map<string, boolean>();
    const counts = new Map<string, number>();
    memberKeys.forEach((k, i) => membership.set(k, values[i] !== undefined));
    postIds.forEach((p, i) => counts.set(p, Number(values[memberKeys.length + i] ?? 0)));
    return { membership, counts };
  }

  async isLiked(postId: string, userId: string): Promise<boolean> {
    return (await this.db.get(`${MEMBER}${postId}/${userId}`)) !== undefined;
  }

  async getCount(postId: string): Promise<number> {
    return Number((await this.db.get(COUNT + postId)) ?? 0);
  }

  /** Every partial count in the store (for tools and tests; iterates the c/ range). */
  async allCounts(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for await (const [k, v] of this.db.iterator({ gte: COUNT, lt: end(COUNT) })) out.set(k.slice(COUNT.length), Number(v));
    return out;
  }

  /** State edits, outbox entries and the input offset in ONE atomic write. */
  async commitBatch(write: BatchWrite): Promise<void> {
    if (this.offset !== undefined && write.offset <= this.offset)
      throw new Error(
        `partition ${this.partition}: batch offset ${write.offset} is not after the stored offset ${this.offset}`,
      );
    const batch = this.db.batch();
    for (const [key, liked] of write.membership) {
      if (liked) batch.put(MEMBER + key, '1');
      else batch.del(MEMBER + key);
    }
    for (const [postId, count] of write.counts) {
      if (count < 0) throw new Error(`partition ${this.partition}: negative count ${count} for post ${postId}`);
      batch.put(COUNT + postId, String(count));
    }
    for (const entry of write.outbox) batch.put(OUTBOX + entry.postId, JSON.stringify(entry));
    batch.put(OFFSET, String(write.offset));
    await batch.write();
    this.offset = write.offset;
  }

  async readOutbox(limit = Number.POSITIVE_INFINITY): Promise<OutboxEntry[]> {
    const out: OutboxEntry[] = [];
    for await (const value of this.db.values({ gte: OUTBOX, lt: end(OUTBOX) })) {
      out.push(JSON.parse(value) as OutboxEntry);
      if (out.length >= limit) break;
    }
    return out;
  }

  /** Removes outbox entries that Kafka acknowledged, only where the stored entry is still the one sent. */
  async clearOutbox(entries: readonly OutboxEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const current = await this.db.getMany(entries.map((e) => OUTBOX + e.postId));
    const batch = this.db.batch();
    let n = 0;
    entries.forEach((e, i) => {
      if (current[i] !== undefined && current[i] === JSON.stringify(e)) {
        batch.del(OUTBOX + e.postId);
        n += 1;
      }
    });
    if (n > 0) await batch.write();
    else await batch.close();
    return n;
  }

  /** Approximate bytes on disk (LevelDB's estimate over the whole key space). */
  async sizeBytes(): Promise<number> {
    return this.db.approximateSize('', '\xff');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}

function parseOffset(raw: string, path: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${path}: meta/offset "${raw}" is not an offset`);
  return n;
}
