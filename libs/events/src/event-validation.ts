import { InvalidEventError } from './codec-errors';
import { isValidId } from './ids';
import type { CountChanged, LikeEvent } from './types';
import { UUID_V7_PATTERN } from './uuidv7';

/** The domain's rules for a decoded LikeEvent; a record that breaks one is poison ('invalid'). */
export function assertLikeEvent(raw: Record<string, unknown>): LikeEvent {
  return checkLikeEvent(raw, false);
}

/**
 * assertLikeEvent for the decoder's own objects, which carry exactly the reader schema's fields:
 * the object itself is returned when it is valid as it is (no copy per consumed event).
 */
export function assertDecodedLikeEvent(raw: Record<string, unknown>): LikeEvent {
  return checkLikeEvent(raw, true);
}

function checkLikeEvent(raw: Record<string, unknown>, reuse: boolean): LikeEvent {
  const { eventId, postId, userId, action, occurredAt } = raw;
  if (typeof eventId !== 'string' || !UUID_V7_PATTERN.test(eventId))
    throw new InvalidEventError('invalid', `eventId ${String(eventId)} is not a UUIDv7`);
  if (!isValidId(postId))
    throw new InvalidEventError('invalid', `postId ${String(postId)} does not match ^[A-Za-z0-9_-]{1,64}$`);
  if (!isValidId(userId))
    throw new InvalidEventError('invalid', `userId ${String(userId)} does not match ^[A-Za-z0-9_-]{1,64}$`);
  if (action !== 'LIKE' && action !== 'UNLIKE')
    throw new InvalidEventError('invalid', `action ${String(action)} is not LIKE or UNLIKE`);
  const at = occurredAt instanceof Date ? occurredAt.getTime() : occurredAt;
  if (typeof at !== 'number' || !Number.isFinite(at))
    throw new InvalidEventError('invalid', 'occurredAt is not a timestamp');
  if (reuse && at === occurredAt) return raw as unknown as LikeEvent;
  return { eventId, postId, userId, action, occurredAt: at };
}

/** The domain's rules for a decoded CountChanged. */
export function assertCountChanged(raw: Record<string, unknown>): CountChanged {
  const { postId, partition, count, sourceOffset } = raw;
  if (!isValidId(postId)) throw new InvalidEventError('invalid', `postId ${String(postId)} is invalid`);
  for (const [name, v] of Object.entries({ partition, count, sourceOffset })) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      throw new InvalidEventError('invalid', `${name} ${String(v)} is not a non-negative integer`);
  }
  return {
    postId,
    partition: partition as number,
    count: count as number,
    sourceOffset: sourceOffset as number,
  };
}
