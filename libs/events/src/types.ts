export type LikeAction = 'LIKE' | 'UNLIKE';

/** schemas/like-event.avsc */
export interface LikeEvent {
  eventId: string;
  postId: string;
  userId: string;
  action: LikeAction;
  /** epoch milliseconds */
  occurredAt: number;
}

/** schemas/count-changed.avsc */
export interface CountChanged {
  postId: string;
  partition: number;
  count: number;
  sourceOffset: number;
}
