import type { Redis } from 'ioredis';

const GLOB_SPECIAL = /[*?[\]\\]/g;
/** keys per UNLINK: a prefix with at most this many keys goes in ONE command */
const CHUNK = 10_000;

/**
 * Deletes every key starting with `prefix` (SCAN, never KEYS); returns how many. Keys are collected
 * and unlinked CHUNK at a time, so a prefix of up to CHUNK keys disappears in one UNLINK — atomically,
 * the way FLUSHALL empties it (tests use this to simulate a Redis that lost its data: no reader may
 * see the data half gone while the progress hash or the read side's sentinel is still there).
 */
export async function deleteKeysWithPrefix(client: Redis, prefix: string): Promise<number> {
  if (prefix.length === 0) throw new Error('refusing to delete every key (empty prefix)');
  const match = `${prefix.replace(GLOB_SPECIAL, (c) => `\\${c}`)}*`;
  let cursor = '0';
  let deleted = 0;
  const pending = new Set<string>();
  const flush = async () => {
    if (pending.size > 0) deleted += await client.unlink(...pending);
    pending.clear();
  };
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) pending.add(k);
    if (pending.size >= CHUNK) await flush();
  } while (cursor !== '0');
  await flush();
  return deleted;
}
