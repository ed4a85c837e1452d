/**
 * The likes rule as a decider (pure, no I/O): a like is membership in a set, not a +1. LIKE of a
 * member and UNLIKE of a non-member change nothing, so double taps, client retries and replays
 * never move a count.
 */
export type LikeAction = 'LIKE' | 'UNLIKE';

/** What the domain needs of a LikeEvent (the wire type in @doubletap/events has these fields). */
export interface LikeFact {
  readonly postId: string;
  readonly userId: string;
  readonly action: LikeAction;
}

/** A viewer's intent: the command the api turns into an event. */
export interface LikeCommand {
  readonly action: LikeAction;
  readonly postId: string;
  readonly userId: string;
}

/** State of one (post, user): a member or not. */
export type Membership = boolean;

export const initialMembership: Membership = false;

/**
 * The events a command produces given the state. The api appends every command as an event without
 * knowing the state (it cannot know it cheaply, and the log must keep the viewer's intent); the
 * aggregator's evolve makes the redundant ones no-ops. decide says which commands change anything.
 */
export function decide(command: LikeCommand, state: Membership): LikeFact[] {
  const liked = command.action === 'LIKE';
  return liked === state ? [] : [{ postId: command.postId, userId: command.userId, action: command.action }];
}

/** The state after an event. */
export function evolve(state: Membership, event: Pick<LikeFact, 'action'>): Membership {
  return event.action === 'LIKE';
}

/** The count change an event causes from a state: +1, -1 or 0. */
export function delta(state: Membership, event: Pick<LikeFact, 'action'>): -1 | 0 | 1 {
  const next = evolve(state, event);
  return next === state ? 0 : next ? 1 : -1;
}
