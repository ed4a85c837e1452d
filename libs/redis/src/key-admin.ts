import type { Redis } from 'ioredis';

const GLOB_SPECIAL = /[*?[\]\\]/g;

/** Deletes every key starting with `prefix` (SCAN + UNLINK in chunks, never KEYS); returns how many. */
export async function deleteKeysWithPrefix(client: Redis, prefix: string): Promise<number> {
  if (prefix.length === 0) throw new Error('refusing to delete every key (empty prefix)');
  const match = `${prefix.replace(GLOB_SPECIAL, (c) => `\\${c}`)}*`;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
