import calculateSlot from 'cluster-key-slot';
import { isCluster, masterOf, type Redis } from './client';
import { readSideMetaKey } from './keys';

const GLOB_SPECIAL = /[*?[\]\\]/g;
/** keys per UNLINK: a prefix with at most this many keys goes in ONE command */
const CHUNK = 10_000;

/**
 * SCAN with MATCH over every key: on one Redis its keyspace, on a Redis Cluster every master's
 * (each master holds its own slots; the cluster client would scan one random node). `each` gets
 * the keys of one SCAN reply (possibly the same key twice, as SCAN may).
 */
export async function scanEachMaster(
  client: Redis,
  match: string,
  each: (keys: string[]) => Promise<void>,
): Promise<void> {
  const nodes = isCluster(client) ? client.nodes('master') : [client];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await each(keys);
    } while (cursor !== '0');
  }
}

/**
 * UNLINK of many keys; returns how many existed. One Redis: one command (atomic). A Redis Cluster:
 * one UNLINK per slot (a command's keys must share a slot), in one pipeline per master, so it is
 * atomic per slot only.
 */
export async function unlinkKeys(client: Redis, keys: Iterable<string>): Promise<number> {
  const list = [...keys];
  if (list.length === 0) return 0;
  if (!isCluster(client)) return client.unlink(...list);
  const bySlot = new Map<number, string[]>();
  for (const k of list) {
    const slot = calculateSlot(k);
    const group = bySlot.get(slot);
    if (group) group.push(k);
    else bySlot.set(slot, [k]);
  }
  const byMaster = new Map<string, string[][]>();
  for (const group of bySlot.values()) {
    const master = masterOf(client, group[0]) ?? '';
    const groups = byMaster.get(master);
    if (groups) groups.push(group);
    else byMaster.set(master, [group]);
  }
  const counts = await Promise.all(
    [...byMaster.values()].map(async (groups) => {
      const pipeline = client.pipeline();
      for (const group of groups) pipeline.unlink(...group);
      const replies = (await pipeline.exec()) ?? [];
      let n = 0;
      for (const [err, reply] of replies) {
        if (err) throw err;
        n += Number(reply);
      }
      return n;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Deletes every key starting with `prefix` (SCAN, never KEYS); returns how many. Keys are collected
 * and unlinked CHUNK at a time, so a prefix of up to CHUNK keys disappears in one UNLINK — atomically,
 * the way FLUSHALL empties it (tests use this to simulate a Redis that lost its data: no reader may
 * see the data half gone while the progress hash or the read side's sentinel is still there).
 * On a Redis Cluster one UNLINK cannot span slots: the read side's shared keys (progress, sentinel,
 * pointers: one slot) go first, in one UNLINK, so readers refuse before any post hash goes.
 */
export async function deleteKeysWithPrefix(client: Redis, prefix: string): Promise<number> {
  if (prefix.length === 0) throw new Error('refusing to delete every key (empty prefix)');
  const match = `${prefix.replace(GLOB_SPECIAL, (c) => `\\${c}`)}*`;
  if (isCluster(client)) {
    const all = new Set<string>();
    await scanEachMaster(client, match, async (keys) => {
      for (const k of keys) all.add(k);
    });
    const metaSlot = calculateSlot(readSideMetaKey(prefix, ''));
    const meta = [...all].filter((k) => calculateSlot(k) === metaSlot);
    const rest = [...all].filter((k) => calculateSlot(k) !== metaSlot);
    return (await unlinkKeys(client, meta)) + (await unlinkKeys(client, rest));
  }
  let deleted = 0;
  const pending = new Set<string>();
  const flush = async () => {
    if (pending.size > 0) deleted += await client.unlink(...pending);
    pending.clear();
  };
  await scanEachMaster(client, match, async (keys) => {
    for (const k of keys) pending.add(k);
    if (pending.size >= CHUNK) await flush();
  });
  await flush();
  return deleted;
}
