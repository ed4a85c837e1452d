import type { CountChanged } from '@doubletap/events';
import type { TxRecord } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import { countKey } from '@doubletap/likes';
import type { PartitionStore, StoreEntry } from '@doubletap/store';
import { entryRecords, offsetRecord, offsetTombstone, sourceRecord, type ChangelogIO } from './changelog';
import type { AggregatorMetrics } from './metrics';

/** Sends records in one committed transaction (the task's record collector, with its ownership guard). */
export type Publish = (records: TxRecord[]) => Promise<void>;

/**
 * How the changelog follows the store while this task owns the partition: not at all, appended per
 * batch, appended once at the end of a catch-up (`deferred`: each changed key is marked in the store
 * and written once, however often the backlog changed it), or rewritten whole after the catch-up.
 */
export type LogMode = { kind: 'off' } | { kind: 'append'; epochStart: number; deferred: boolean } | { kind: 'rewrite' };

/** What the end of a catch-up needs (the state manager's deps have it). */
export interface CatchUpOutputDeps {
  partition: number;
  changelogTopic?: string;
  changelog?: ChangelogIO;
  logger: Logger;
  metrics: AggregatorMetrics;
  /** records per changelog transaction in a dump, dirty posts per CountChanged transaction */
  chunk?: number;
  encodeCount(change: CountChanged): Promise<Buffer>;
  /** the same bytes without a promise, when the codec can (undefined: use encodeCount) */
  encodeCountNow?(change: CountChanged): Buffer | undefined;
  countsTopic: string;
}

/**
 * What a task writes when its catch-up ends (the state manager decides which): a changelog that was
 * empty or stale rewritten whole from the store, or the keys the catch-up changed; then the counts
 * it held back.
 *
 * rewriteChangelog: the changelog is emptied and rewritten from the store (its last transaction
 * names the offset and the new epoch). Returns how the changelog follows the store from here
 * (undefined: there is no changelog, nothing changes).
 */
export async function rewriteChangelog(store: PartitionStore, deps: CatchUpOutputDeps, publish: Publish): Promise<LogMode | undefined> {
  const { partition: p, changelogTopic: topic, logger } = deps;
  const stored = store.lastOffset();
  if (!deps.changelog || !topic) return undefined;
  const epochStart = await deps.changelog.truncate(p);
  if (stored === undefined) {
    // nothing applied yet (the input partition was empty): the changelog is emptied and a new
    // epoch starts; the first batch writes its changes, the source and the offset (before, no
    // batch was ever logged and the partition's changelog stayed empty for good)
    logger.info({ partition: p, epochStart }, 'changelog started for an empty store');
    return { kind: 'append', epochStart, deferred: false };
  }
  const chunk = deps.chunk ?? 5000;
  let batch: StoreEntry[] = [];
  let written = 0;
  for await (const entry of store.stateEntries()) {
    batch.push(entry);
    if (batch.length >= chunk) {
      await publish(entryRecords(topic, p, batch));
      written += batch.length;
      batch = [];
    }
  }
  const source = store.source();
  await publish([
    ...entryRecords(topic, p, batch),
    ...(source ? [sourceRecord(topic, p, source)] : []),
    offsetRecord(topic, p, stored, epochStart),
  ]);
  written += batch.length;
  logger.info({ partition: p, entries: written, offset: stored, epochStart }, 'changelog rewritten from the store');
  return { kind: 'append', epochStart, deferred: false };
}

/**
 * Writes every key the catch-up changed, with its current value, and then the offset. Several
 * transactions when there are many keys: the first then withdraws meta/offset (a tombstone), so a
 * crash before the last leaves a changelog nobody restores from (it is rewritten) rather than one
 * whose offset does not match its keys. Returns the mode from here (undefined: unchanged).
 */
export async function writeUnlogged(
  store: PartitionStore,
  deps: CatchUpOutputDeps,
  publish: Publish,
  epochStart: number,
): Promise<LogMode | undefined> {
  const { partition: p, changelogTopic: topic, logger } = deps;
  const stored = store.lastOffset();
  if (!topic || stored === undefined) return undefined;
  const chunk = deps.chunk ?? 5000;
  let after: string | undefined;
  let written = 0;
  let first = true;
  for (;;) {
    const entries = await store.unlogged(chunk, after);
    const last = entries.length < chunk;
    const records = entryRecords(topic, p, entries);
    if (first && !last) records.unshift(offsetTombstone(topic, p));
    const source = store.source();
    if (last) records.push(...(source ? [sourceRecord(topic, p, source)] : []), offsetRecord(topic, p, stored, epochStart));
    await publish(records);
    written += entries.length;
    first = false;
    if (last) break;
    after = entries[entries.length - 1].key;
  }
  await store.clearUnlogged();
  logger.info({ partition: p, keys: written, offset: stored }, 'changelog brought up to date after the catch-up');
  return { kind: 'append', epochStart, deferred: false };
}

/** Publishes the counts of the posts a catch-up marked dirty, stamped with the store's offset, and clears the marks. */
export async function publishDirty(store: PartitionStore, deps: CatchUpOutputDeps, publish: Publish, afterOutput?: () => void): Promise<void> {
  const { partition: p, logger, metrics } = deps;
  const stamp = store.lastOffset();
  if (stamp === undefined) return;
  let sent = 0;
  for (;;) {
    const dirty = await store.dirtyPosts(deps.chunk ?? 5000);
    if (dirty.length === 0) break;
    const records: TxRecord[] = [];
    for (const d of dirty) {
      const change: CountChanged = { postId: d.postId, partition: p, count: d.count, sourceOffset: stamp };
      records.push({ topic: deps.countsTopic, partition: p, key: countKey(d.postId, p), value: deps.encodeCountNow?.(change) ?? (await deps.encodeCount(change)) });
    }
    await publish(records);
    afterOutput?.();
    await store.clean(dirty.map((d) => d.postId));
    metrics.countChanged.inc(dirty.length);
    sent += dirty.length;
  }
  if (sent > 0) logger.info({ partition: p, countChanged: sent, sourceOffset: stamp }, 'published the counts changed while catching up');
}
