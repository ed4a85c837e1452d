import { ClassicLevel } from 'classic-level';
import { access, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The state of one input partition in its own LevelDB (classic-level) database at `<dataDir>/p-<p>`:
 *
 *   m/<postId>/<userId>  present = liked
 *   c/<postId>           partial count of the post in this partition (decimal)
 *   d/<postId>           dirty: the post changed while catching up, its CountChanged is still to publish
 *   x/<store key>        the key changed while catching up, its changelog record is still to write
 *   meta/offset          last input offset applied (decimal)
 *   meta/source          the input topic the state was built from: {"topicId","partitions"} (JSON)
 *   meta/standby         a STANDBY copy (ADR 0018): the changelog position it has applied up to,
 *                        {"position","epochStart","base"} (JSON); a standby has no meta/offset
 *
 * Every batch is ONE atomic LevelDB write (state + dirty marks + offset), so after any crash the
 * store is exactly "all events up to meta/offset applied", and resuming after it applies each event
 * once. Output (CountChanged, dead letters, changelog) is committed to Kafka BEFORE the batch is
 * written here, so nothing the store has applied is ever unpublished; a crash in between only
 * repeats output, and every output is idempotent (absolute counts guarded by source offset).
 * Writes are not fsync'ed: a killed process loses nothing (the OS has the log), a lost machine
 * rolls back to an earlier consistent offset and replays from Kafka.
 */
export interface BatchWrite {
  /** membership edits: key `<postId>/<userId>` → liked */
  membership: ReadonlyMap<string, boolean>;
  /** absolute partial counts per post after the batch */
  counts: ReadonlyMap<string, number>;
  /** last input offset of the batch (applied or dead-lettered) */
  offset: number;
  /** posts to mark dirty (catching up: their CountChanged is published when the catch-up ends) */
  dirty?: Iterable<string>;
  /** dirty marks to remove (their CountChanged was committed) */
  clean?: Iterable<string>;
  /** mark every key this batch changes for the changelog (a catch-up writes it at its end) */
  logLater?: boolean;
  /** the input topic's identity, written with the first batch and whenever it is confirmed */
  source?: SourceIdentity;
}

/** The input topic a store was built from. */
export interface SourceIdentity {
  topicId: string;
  partitions: number;
}

/** A raw store entry as the changelog carries it: value null = deleted. */
export interface StoreEntry {
  key: string;
  value: string | null;
}

/**
 * Where a standby store stands in its changelog partition (ADR 0018): every committed changelog
 * record before `position` is applied, none after it. `epochStart` is the epoch named by the last
 * meta/offset it applied (null before the first); `base` is where it started reading (its store was
 * empty then), so a standby that has not seen a meta/offset yet is still tied to an epoch.
 */
export interface StandbyMark {
  position: number;
  epochStart: number | null;
  base: number;
  /** the input offset named by the last meta/offset it applied (how far its state is, for assignment hints) */
  offset?: number;
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
const DIRTY = 'd/';
const UNLOGGED = 'x/';
/** the outbox of stores written before output moved ahead of the store commit: read once, as dirty */
const LEGACY_OUTBOX = 'o/';
const OFFSET = 'meta/offset';
const SOURCE = 'meta/source';
const STANDBY = 'meta/standby';
/**
 * Up to this many keys a batch's state is read with synchronous gets (≤ ~50 µs of event loop); more
 * go to one async multi-get (measured here: getMany ~40 µs fixed + 1.3–1.9 µs/key of CPU, getSync
 * 0.8–2 µs/key on the main thread).
 */
const SYNC_READ_MAX = 64;
/** LevelDB orders keys bytewise: '0' sorts after '/', so `x/` … `x0` spans every key of prefix x/ */
const end = (prefix: string): string => prefix.slice(0, -1) + '0';

export function storePath(dataDir: string, partition: number): string {
  return join(dataDir, `p-${partition}`);
}

/** Store keys of the state proper (what a changelog carries). */
export const storeKeys = {
  member: (likeKey: string): string => MEMBER + likeKey,
  count: (postId: string): string => COUNT + postId,
  offset: OFFSET,
  source: SOURCE,
};

/**
 * LevelDB's own memory, per partition store (one process holds many): small and fixed whatever the
 * state size, so the aggregator's RSS stays bounded as the stores grow (the OS page cache does the
 * rest). Measured in BENCHMARKS.md (Aggregation: 10M pairs). Defaults would be 8 MiB of block cache
 * (classic-level), a 4 MiB write buffer (twice, while one is flushed) and 1,000 open tables, each
 * with its index block in memory.
 */
const STORE_MEMORY = { cacheSize: 2 * 1048576, writeBufferSize: 2 * 1048576, maxOpenFiles: 200 } as const;

export class PartitionStore {
  private offset: number | undefined;
  private sourceIdentity: SourceIdentity | undefined;
  private standbyMark: StandbyMark | undefined;
  private closed = false;
  /** counts the store's writes: dirtyCount's answer holds until the next one */
  private writes = 0;
  private dirtyAnswer?: { writes: number; limit: number; count: number };

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
      db = new ClassicLevel<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8', ...STORE_MEMORY });
      await db.open();
      const store = new PartitionStore(partition, path, db);
      const [rawOffset, rawSource, rawStandby] = await db.getMany([OFFSET, SOURCE, STANDBY]);
      store.standbyMark = rawStandby === undefined ? undefined : (JSON.parse(rawStandby) as StandbyMark);
      store.offset = rawOffset === undefined ? undefined : parseOffset(rawOffset, path);
      store.sourceIdentity = rawSource === undefined ? undefined : (JSON.parse(rawSource) as SourceIdentity);
      await store.migrateOutbox();
      return store;
    } catch (e) {
      if (db) await db.close().catch(() => undefined);
      throw e instanceof StoreOpenError ? e : new StoreOpenError(partition, path, e);
    }
  }

  /**
   * The last applied offset of the store of `partition` under `dataDir` if there is one (it must not be
   * open): what a member tells the group about local state it could resume from.
   */
  static async peekOffset(dataDir: string, partition: number): Promise<number | undefined> {
    try {
      await access(storePath(dataDir, partition));
    } catch {
      return undefined;
    }
    const store = await PartitionStore.open(dataDir, partition);
    try {
      return store.lastOffset() ?? store.standby()?.offset;
    } finally {
      await store.close();
    }
  }

  /** Deletes the store of `partition` (it must not be open): a restore starts from nothing. */
  static async destroy(dataDir: string, partition: number): Promise<void> {
    await rm(storePath(dataDir, partition), { recursive: true, force: true });
  }

  /** Last applied input offset, or undefined for a store that has never applied anything. */
  lastOffset(): number | undefined {
    return this.offset;
  }

  /** The input topic the state was built from, once a batch recorded it. */
  source(): SourceIdentity | undefined {
    return this.sourceIdentity;
  }

  /** Set while the store is a standby copy (no meta/offset: it must be promoted before it is used). */
  standby(): StandbyMark | undefined {
    return this.standbyMark && { ...this.standbyMark };
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Membership and partial counts (the hot path reads both per batch): up to SYNC_READ_MAX keys (a
   * live batch, typically) with synchronous gets (an async multi-get costs ~40 µs of CPU before its
   * first key here), more (a catch-up batch's thousands) in one multi-get, whose thread-pool work runs
   * beside the main thread.
   */
  async getState(
    memberKeys: readonly string[],
    postIds: readonly string[],
  ): Promise<{ membership: Map<string, boolean>; counts: Map<string, number> }> {
    const keys = new Array<string>(memberKeys.length + postIds.length);
    for (let i = 0; i < memberKeys.length; i++) keys[i] = MEMBER + memberKeys[i];
    for (let i = 0; i < postIds.length; i++) keys[memberKeys.length + i] = COUNT + postIds[i];
    const values = keys.length <= SYNC_READ_MAX ? keys.map((k) => this.db.getSync(k)) : await this.db.getMany(keys);
    const membership = new Map<string, boolean>();
    const counts = new Map<string, number>();
    for (let i = 0; i < memberKeys.length; i++) if (values[i] !== undefined) membership.set(memberKeys[i], true);
    for (let i = 0; i < postIds.length; i++) {
      const v = values[memberKeys.length + i];
      if (v !== undefined) counts.set(postIds[i], Number(v));
    }
    return { membership, counts };
  }

  /**
   * Whether each (post, user) pair is a member, in the order asked, read now: synchronous gets (the
   * interactive queries' few keys come from LevelDB's memtable and block cache, 1–2 µs of CPU each
   * here, where one async multi-get costs ~40 µs of fixed CPU before its first key), so the answers
   * and `lastOffset()` read right after them describe the same instant. An interactive-query batch is
   * at most a thousand pairs (~1 ms); the fold's large reads stay async (getState past SYNC_READ_MAX).
   */
  areLiked(pairs: readonly { postId: string; userId: string }[]): boolean[] {
    const out = new Array<boolean>(pairs.length);
    for (let i = 0; i < pairs.length; i++) out[i] = this.db.getSync(`${MEMBER}${pairs[i].postId}/${pairs[i].userId}`) !== undefined;
    return out;
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

  /** Every liked `<postId>/<userId>` key (for tools and tests). */
  async allMembers(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of this.db.keys({ gte: MEMBER, lt: end(MEMBER) })) out.push(k.slice(MEMBER.length));
    return out;
  }

  /** State edits, dirty marks and the input offset in ONE atomic write. */
  async commitBatch(write: BatchWrite): Promise<void> {
    if (this.offset !== undefined && write.offset <= this.offset)
      throw new Error(`partition ${this.partition}: batch offset ${write.offset} is not after the stored offset ${this.offset}`);
    const batch = this.db.batch();
    for (const [key, liked] of write.membership) {
      if (liked) batch.put(MEMBER + key, '1');
      else batch.del(MEMBER + key);
      if (write.logLater) batch.put(UNLOGGED + MEMBER + key, '');
    }
    for (const [postId, count] of write.counts) {
      if (count < 0) throw new Error(`partition ${this.partition}: negative count ${count} for post ${postId}`);
      batch.put(COUNT + postId, String(count));
      if (write.logLater) batch.put(UNLOGGED + COUNT + postId, '');
    }
    if (write.clean) for (const postId of write.clean) batch.del(DIRTY + postId);
    if (write.dirty) for (const postId of write.dirty) batch.put(DIRTY + postId, '1');
    if (write.source) batch.put(SOURCE, JSON.stringify(write.source));
    batch.put(OFFSET, String(write.offset));
    await this.write(batch);
    this.offset = write.offset;
    if (write.source) this.sourceIdentity = write.source;
  }

  /** Removes dirty marks whose CountChanged was committed (no offset change). */
  async clean(postIds: readonly string[]): Promise<void> {
    if (postIds.length === 0) return;
    const batch = this.db.batch();
    for (const p of postIds) batch.del(DIRTY + p);
    await this.write(batch);
  }

  /** Up to `limit` dirty posts with their partial counts, in key order. */
  async dirtyPosts(limit: number): Promise<Array<{ postId: string; count: number }>> {
    const ids: string[] = [];
    for await (const k of this.db.keys({ gte: DIRTY, lt: end(DIRTY), limit })) ids.push(k.slice(DIRTY.length));
    if (ids.length === 0) return [];
    const counts = await this.db.getMany(ids.map((p) => COUNT + p));
    return ids.map((postId, i) => ({ postId, count: Number(counts[i] ?? 0) }));
  }

  /** Up to `limit` keys marked for the changelog (after `after`), with their current values (null = deleted). */
  async unlogged(limit: number, after?: string): Promise<StoreEntry[]> {
    const keys: string[] = [];
    const range = after === undefined ? { gte: UNLOGGED, lt: end(UNLOGGED), limit } : { gt: UNLOGGED + after, lt: end(UNLOGGED), limit };
    for await (const k of this.db.keys(range)) keys.push(k.slice(UNLOGGED.length));
    if (keys.length === 0) return [];
    const values = await this.db.getMany(keys);
    return keys.map((key, i) => ({ key, value: values[i] ?? null }));
  }

  /** Removes every changelog mark (their records were written), in chunks. */
  async clearUnlogged(): Promise<void> {
    for (;;) {
      const keys: string[] = [];
      for await (const k of this.db.keys({ gte: UNLOGGED, lt: end(UNLOGGED), limit: 10_000 })) keys.push(k);
      if (keys.length === 0) return;
      const batch = this.db.batch();
      for (const k of keys) batch.del(k);
      await this.write(batch);
    }
  }

  /**
   * How many posts are dirty (at most `limit`). Status polls ask this often, and while catching up
   * the answer means iterating up to `limit` keys: it is kept until the store is written again.
   */
  async dirtyCount(limit = Number.MAX_SAFE_INTEGER): Promise<number> {
    const known = this.dirtyAnswer;
    if (known && known.writes === this.writes && known.limit === limit) return known.count;
    const writes = this.writes;
    let n = 0;
    for await (const _ of this.db.keys({ gte: DIRTY, lt: end(DIRTY), limit })) n++;
    this.dirtyAnswer = { writes, limit, count: n };
    return n;
  }

  /** Every write of the store goes through here (dirtyCount's answer is then stale). */
  private async write(batch: { write(): Promise<void> }): Promise<void> {
    try {
      await batch.write();
    } finally {
      this.writes++;
    }
  }

  /**
   * Writes raw entries (a changelog being restored) and, when given, the offset they bring the state
   * to — in one atomic write per call. Only for a store being restored from nothing.
   */
  async restoreEntries(entries: readonly StoreEntry[], offset?: number, source?: SourceIdentity): Promise<void> {
    const batch = this.db.batch();
    for (const e of entries) {
      if (e.value === null) batch.del(e.key);
      else batch.put(e.key, e.value);
    }
    if (source) batch.put(SOURCE, JSON.stringify(source));
    if (offset !== undefined) batch.put(OFFSET, String(offset));
    await this.write(batch);
    if (offset !== undefined) this.offset = offset;
    if (source) this.sourceIdentity = source;
  }

  /**
   * Makes this store a standby at `mark`: meta/offset and meta/source go (a standby does not name an
   * input offset: its state follows the changelog, record by record), catch-up marks go (the owner
   * publishes and logs), meta/standby is written. The state entries stay.
   */
  async becomeStandby(mark: StandbyMark): Promise<void> {
    await this.db.batch().del(OFFSET).del(SOURCE).put(STANDBY, JSON.stringify(mark)).write();
    this.offset = undefined;
    this.sourceIdentity = undefined;
    this.standbyMark = { ...mark };
    for (const prefix of [DIRTY, UNLOGGED]) {
      for (;;) {
        const keys: string[] = [];
        for await (const k of this.db.keys({ gte: prefix, lt: end(prefix), limit: 10_000 })) keys.push(k);
        if (keys.length === 0) break;
        const batch = this.db.batch();
        for (const k of keys) batch.del(k);
        await batch.write();
      }
    }
  }

  /** Changelog entries a standby applied and the position they bring it to, in ONE atomic write. */
  async applyStandby(entries: readonly StoreEntry[], mark: StandbyMark): Promise<void> {
    if (!this.standbyMark) throw new Error(`partition ${this.partition}: the store is not a standby`);
    const batch = this.db.batch();
    for (const e of entries) {
      if (e.value === null) batch.del(e.key);
      else batch.put(e.key, e.value);
    }
    batch.put(STANDBY, JSON.stringify(mark));
    await batch.write();
    this.standbyMark = { ...mark };
  }

  /**
   * A standby that has applied its changelog to the end becomes the partition's store: the input
   * offset and source the changelog names are written and meta/standby goes, in one atomic write.
   */
  async promote(offset: number, source: SourceIdentity | undefined): Promise<void> {
    const batch = this.db.batch().del(STANDBY).put(OFFSET, String(offset));
    if (source) batch.put(SOURCE, JSON.stringify(source));
    else batch.del(SOURCE);
    await batch.write();
    this.standbyMark = undefined;
    this.offset = offset;
    this.sourceIdentity = source;
  }

  /** Every state entry (members and counts) in key order, for a changelog dump. */
  async *stateEntries(): AsyncGenerator<StoreEntry> {
    for await (const [key, value] of this.db.iterator({ gte: COUNT, lt: end(COUNT) })) yield { key, value };
    for await (const [key, value] of this.db.iterator({ gte: MEMBER, lt: end(MEMBER) })) yield { key, value };
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

  /** An outbox left by an older version: those posts' CountChanged may be unsent, so they become dirty. */
  private async migrateOutbox(): Promise<void> {
    const keys: string[] = [];
    for await (const k of this.db.keys({ gte: LEGACY_OUTBOX, lt: end(LEGACY_OUTBOX) })) keys.push(k);
    if (keys.length === 0) return;
    const batch = this.db.batch();
    for (const k of keys) {
      batch.del(k);
      batch.put(DIRTY + k.slice(LEGACY_OUTBOX.length), '1');
    }
    await this.write(batch);
  }
}

function parseOffset(raw: string, path: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${path}: meta/offset "${raw}" is not an offset`);
  return n;
}
