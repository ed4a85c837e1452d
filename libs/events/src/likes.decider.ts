import type { LikeAction, LikeEvent } from './types';
import { likeKey } from './ids';

/**
 * The likes logic, pure: a like is membership in a set, not a +1. LIKE of a member and UNLIKE of a
 * non-member change nothing, so double taps, client retries and replays never move a count.
 */
export interface Membership {
  readonly member: boolean;
}

export const initialMembership: Membership = { member: false };

export interface Decision {
  readonly state: Membership;
  /** change of the post's count: +1, -1 or 0 */
  readonly delta: -1 | 0 | 1;
}

export function evolve(state: Membership, action: LikeAction): Decision {
  if (action === 'LIKE') return state.member ? { state, delta: 0 } : { state: { member: true }, delta: 1 };
  return state.member ? { state: { member: false }, delta: -1 } : { state, delta: 0 };
}

export interface BatchOutcome {
  /** final membership of every (post/user) key the batch touched: true = liked */
  readonly membership: Map<string, boolean>;
  /** net count change per post, only posts whose count changed */
  readonly deltas: Map<string, number>;
  /** every post the batch touched, changed or not */
  readonly touchedPosts: Set<string>;
  /** events that changed nothing (duplicates) */
  readonly noOps: number;
}

/**
 * Applies a batch of events in order. `known` holds the stored membership of the keys the batch
 * touches (one multi-get before the batch); events within the batch see each other's effects.
 */
export function applyBatch(events: readonly LikeEvent[], known: ReadonlyMap<string, boolean>): BatchOutcome {
  const membership = new Map<string, boolean>();
  const deltas = new Map<string, number>();
  const touchedPosts = new Set<string>();
  let noOps = 0;
  for (const event of events) {
    const key = likeKey(event.postId, event.userId);
    const member = membership.get(key) ?? known.get(key) ?? false;
    const { state, delta } = evolve({ member }, event.action);
    membership.set(key, state.member);
    touchedPosts.add(event.postId);
    if (delta === 0) noOps += 1;
    else deltas.set(event.postId, (deltas.get(event.postId) ?? 0) + delta);
  }
  for (const [post, d] of deltas) if (d === 0) deltas.delete(post);
  return { membership, deltas, touchedPosts, noOps };
}
