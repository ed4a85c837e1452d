import { formatCount } from '@doubletap/queries';
import type { CountSnapshot } from '@doubletap/redis';
import type { PostCount } from './reads.dto';

/** A count as the api shows it (JSON bodies and SSE events). */
export const toView = (s: CountSnapshot): PostCount => ({
  postId: s.postId,
  count: s.count,
  display: formatCount(s.count),
  asOf: s.asOf === null ? null : new Date(s.asOf).toISOString(),
});
