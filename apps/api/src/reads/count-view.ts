import { formatCount } from '@doubletap/queries';
import type { CountSnapshot } from '@doubletap/redis';
import type { PostCount } from './reads.dto';

/** asOf (ms) → its ISO text: a hot post is read many times between two changes, a batch read shows
 * 100 posts, and a Date plus toISOString per post was a tenth of the api's time on /v1/likes. */
const isoOf = new Map<number, string>();
const ISO_CACHE_MAX = 65_536;

function iso(ms: number): string {
  let text = isoOf.get(ms);
  if (text === undefined) {
    text = new Date(ms).toISOString();
    if (isoOf.size >= ISO_CACHE_MAX) isoOf.clear();
    isoOf.set(ms, text);
  }
  return text;
}

/** A count as the api shows it (JSON bodies and SSE events). */
export const toView = (s: CountSnapshot): PostCount => ({
  postId: s.postId,
  count: s.count,
  display: formatCount(s.count),
  asOf: s.asOf === null ? null : iso(s.asOf),
});
