import type { Redis } from './client';
import { ownersKey } from './keys';

/** Where the interactive query for one partition goes (a field of the owners hash). */
export interface OwnerEndpoint {
  partition: number;
  url: string;
  memberId: string;
  generation: number;
  updatedAt: string;
}

/**
 * The current owner of one partition: HGET of one field of `<prefix>owners` (O(1)). undefined when
 * no aggregator has claimed it or the value is not a valid owner record. Throws on Redis errors.
 */
export async function readOwner(client: Redis, prefix: string, partition: number): Promise<OwnerEndpoint | undefined> {
  return parseOwner(partition, await client.hget(ownersKey(prefix), String(partition)));
}

/** The whole owners map in one round trip (HGETALL): partition → owner, invalid records left out. */
export async function readOwnerMap(client: Redis, prefix: string): Promise<Map<number, OwnerEndpoint>> {
  const raw = await client.hgetall(ownersKey(prefix));
  const out = new Map<number, OwnerEndpoint>();
  for (const [field, value] of Object.entries(raw)) {
    const partition = Number(field);
    const owner = /^\d+$/.test(field) ? parseOwner(partition, value) : undefined;
    if (owner) out.set(partition, owner);
  }
  return out;
}

function parseOwner(partition: number, raw: string | null): OwnerEndpoint | undefined {
  if (raw === null) return undefined;
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const { url, memberId, generation, updatedAt } = value;
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) return undefined;
  return {
    partition,
    url,
    memberId: typeof memberId === 'string' ? memberId : '',
    generation: typeof generation === 'number' ? generation : -1,
    updatedAt: typeof updatedAt === 'string' ? updatedAt : '',
  };
}
