import { createHash } from 'node:crypto';

/** How many standbys a member keeps: none, every partition it does not own, or up to n of them. */
export type StandbyChoice = 'none' | 'all' | number;

/** The standby partitions of a member: by rendezvous hash on its seed, those it has a store of first. */
export function chooseStandbys(
  choice: StandbyChoice,
  partitions: number,
  owned: readonly number[],
  seed: string,
  hasStore: (p: number) => boolean,
): number[] {
  if (choice === 'none') return [];
  const free = Array.from({ length: partitions }, (_, p) => p).filter((p) => !owned.includes(p));
  if (choice === 'all') return free;
  const rank = (p: number) => createHash('sha1').update(`${seed}/${p}`).digest().readUInt32BE(0);
  return free
    .map((p) => ({ p, stored: hasStore(p) ? 0 : 1, rank: rank(p) }))
    .sort((a, b) => a.stored - b.stored || a.rank - b.rank)
    .slice(0, choice)
    .map((x) => x.p)
    .sort((a, b) => a - b);
}

/** AGGREGATOR_STANDBYS: `none`, `all` or a count of partitions (0 = none). */
export function parseStandbyChoice(text: string): StandbyChoice | undefined {
  if (text === 'none' || text === 'all') return text;
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  return n === 0 ? 'none' : n;
}
