import type { LikeFact } from './decider';

/** A small seeded PRNG (mulberry32) for reproducible property tests and generators. */
export function seededRandom(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** A random history of likes and unlikes over `posts` × `users` (about a third are unlikes). */
export function randomHistory(seed: number, length: number, posts: number, users: number): LikeFact[] {
  const rnd = seededRandom(seed);
  return Array.from({ length }, () => ({
    postId: `p${rnd(posts)}`,
    userId: `u${rnd(users)}`,
    action: (rnd(3) === 0 ? 'UNLIKE' : 'LIKE'),
  }));
}
