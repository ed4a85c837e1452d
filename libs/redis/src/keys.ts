/**
 * Redis key layout. One hash per post, `{postId}` as the hash tag so a post lives in one cluster
 * slot: fields `total`, `c:<p>` (partial count of partition p), `o:<p>` (its source offset).
 */
export const likesKey = (prefix: string, postId: string): string => `${prefix}likes:{${postId}}`;
export const countChannel = (prefix: string, postId: string): string => `${prefix}likes:changed:{${postId}}`;
export const ownersKey = (prefix: string): string => `${prefix}owners`;
export const rateKey = (prefix: string, userId: string): string => `${prefix}rate:{${userId}}`;
