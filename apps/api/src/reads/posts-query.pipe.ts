import { Injectable, type PipeTransform } from '@nestjs/common';
import { MAX_POSTS_PER_READ } from '@doubletap/redis';
import { checkId } from '../http/id.pipe';
import { ProblemException } from '../http/problem';

/**
 * The query of GET /v1/likes to its list of post ids. `posts`: comma-separated ids (the parameter
 * may also be repeated); no other parameter. Empty entries are malformed; more than
 * MAX_POSTS_PER_READ entries (duplicates included) are refused before any id is looked at; each id
 * gets IdPipe's check; duplicates are answered once, in the order of their first appearance.
 */
@Injectable()
export class PostsQueryPipe implements PipeTransform<Record<string, unknown>, string[]> {
  transform(query: Record<string, unknown>): string[] {
    const unknown = Object.keys(query).filter((k) => k !== 'posts');
    if (unknown.length > 0)
      throw new ProblemException(
        400,
        'unknown-parameter',
        `unknown query parameter ${unknown.map((k) => JSON.stringify(k)).join(', ')} (only posts is accepted)`,
      );
    return parsePosts(query.posts, MAX_POSTS_PER_READ);
  }
}

export function parsePosts(raw: unknown, max: number): string[] {
  if (raw === undefined)
    throw new ProblemException(
      400,
      'missing-posts',
      'query parameter posts is required, e.g. ?posts=post_1,post_2',
    );
  const parts = (Array.isArray(raw) ? raw : [raw]).map(String).flatMap((s) => s.split(','));
  if (parts.length > max)
    throw new ProblemException(
      400,
      'too-many-posts',
      `at most ${max} posts per request (got ${parts.length})`,
    );
  const empty = parts.findIndex((p) => p === '');
  if (empty >= 0)
    throw new ProblemException(
      400,
      'malformed-posts',
      `posts must be a comma-separated list of post ids with no empty entries (entry ${empty + 1} is empty)`,
    );
  for (const p of parts) checkId('post id', p);
  return [...new Set(parts)];
}
