/**
 * The key formats of the likes domain. `/` cannot occur in an id (ids.ts), so both keys split back
 * unambiguously.
 */

/** Kafka key of a LikeEvent: every action of one user on one post lands on one partition, in order. */
export function likeKey(postId: string, userId: string): string {
  return `${postId}/${userId}`;
}

/**
 * Whether `key` is the likeKey of (postId, userId), without building that key (the aggregator asks
 * this of every record it consumes).
 */
export function isLikeKey(key: string | null, postId: string, userId: string): key is string {
  return (
    key !== null &&
    key.length === postId.length + 1 + userId.length &&
    key.charCodeAt(postId.length) === 47 /* '/' */ &&
    key.startsWith(postId) &&
    key.endsWith(userId)
  );
}

/** The (postId, userId) of a likeKey, or undefined when `key` is not one. */
export function parseLikeKey(key: string): { postId: string; userId: string } | undefined {
  const slash = key.indexOf('/');
  if (slash <= 0 || slash === key.length - 1 || key.indexOf('/', slash + 1) !== -1) return undefined;
  return { postId: key.slice(0, slash), userId: key.slice(slash + 1) };
}

/** Kafka key of a CountChanged record (compacted: the latest per post and partition survives). */
export function countKey(postId: string, partition: number): string {
  return `${postId}/${partition}`;
}
