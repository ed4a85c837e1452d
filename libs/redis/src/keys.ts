/**
 * Redis key layout. One hash per post, `{postId}` as the hash tag so a post lives in one cluster
 * slot: fields `total`, `c:<p>` (partial count of partition p), `o:<p>` (its source offset).
 */
export const likesKey = (prefix: string, postId: string): string => `${prefix}likes:{${postId}}`;
export const countChannel = (prefix: string, postId: string): string => `${prefix}likes:changed:{${postId}}`;
/**
 * The read side's shared keys (progress, sentinel, generation pointers, rebuild checkpoint) all carry
 * the hash tag `{~<prefix>}`, so they live in ONE cluster slot and a script may touch any of them
 * together (ADR 0017). The `~` keeps the tag apart from any post id (ids never contain it).
 */
export const readSideMetaKey = (prefix: string, name: string): string =>
  `${prefix}likes:meta{~${prefix}}:${name}`;
export const ownersKey = (prefix: string): string => `${prefix}owners`;
export const rateKey = (prefix: string, userId: string): string => `${prefix}rate:{${userId}}`;

/**
 * The projector's progress, kept IN Redis beside the data it describes (ADR 0008): hash with
 * `p:<n>` = next likes.counts offset to apply for partition n, `h:<n>` = the same while partition n
 * heals, and `partitions` = the partition count P of likes.counts. A Redis that loses its data loses
 * this hash with it, which is how the loss is detected.
 */
export const progressKey = (prefix: string): string => readSideMetaKey(prefix, 'progress');
/** Exists iff every partition 0..P-1 has `p:<n>`: the read side is complete. Readers refuse without it. */
export const readySentinelKey = (prefix: string): string => readSideMetaKey(prefix, 'ready');
/**
 * Read-side announcements (ADR 0013): the sentinel was (re)set (payload P: live viewers
 * re-read the counts they hold), removed (payload `healing`), or the served generation switched
 * (payload `generation:<g>`). Whoever caches counts drops them on every announcement.
 */
export const readyChannel = (prefix: string): string => `${prefix}likes:restored`;
/** Announces a change of the owners map (payload: the partitions written, comma-separated). */
export const ownersChannel = (prefix: string): string => `${prefix}owners:changed`;
