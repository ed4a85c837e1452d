/** postId and userId: 1–64 characters of A–Z, a–z, 0–9, underscore and hyphen. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

/** Kafka key of a LikeEvent: every action of one user on one post lands on one partition, in order. */
export function likeKey(postId: string, userId: string): string {
  return `${postId}/${userId}`;
}

/** Kafka key of a CountChanged record (compacted: the latest per post and partition survives). */
export function countKey(postId: string, partition: number): string {
  return `${postId}/${partition}`;
}
