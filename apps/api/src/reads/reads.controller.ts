import { Controller, Get, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OptionalBearerGuard } from '../auth/optional-bearer.guard';
import { ProblemException, unavailable } from '../http/problem';
import { ProblemDto } from '../likes/like-accepted.dto';
import { ReadSide, invalidId } from './read-side.service';
import { PostCounts, PostLikes } from './reads.dto';
import { pipeCounts, SSE_HEADERS } from './sse';
import { isValidId } from '@doubletap/events';

const ID_PARAM = { name: 'postId', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } as const;
export const UNAVAILABLE_HEADER = 'x-liked-by-viewer-unavailable';
export const SSE_HEARTBEAT_MS = 15_000;
export const SSE_RETRY_MS = 2_000;

function ApiProblems(codes: number[]): MethodDecorator {
  return (target, key, descriptor) => {
    for (const status of codes)
      ApiResponse({ status, type: ProblemDto, description: 'application/problem+json (RFC 9457)' })(
        target,
        key,
        descriptor,
      );
  };
}

/**
 * `posts` of GET /v1/likes: comma-separated ids (the parameter may also be repeated). Empty
 * entries are malformed; more than MAX entries (duplicates included) are refused before any id is
 * looked at; duplicates are answered once, in the order of their first appearance.
 */
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
  for (const p of parts) if (!isValidId(p)) throw invalidId('post id', p);
  return [...new Set(parts)];
}

@ApiTags('reads')
@Controller('v1')
export class ReadsController {
  constructor(private readonly reads: ReadSide) {}

  @Get('posts/:postId/likes')
  @UseGuards(OptionalBearerGuard)
  @ApiBearerAuth()
  @ApiOperation({
    summary: "A post's like count; with a bearer token also whether the viewer likes it",
    description:
      'O(1) read from the Redis projection; an unknown post has count 0. The token is optional, but an invalid one is a 401.',
  })
  @ApiParam(ID_PARAM)
  @ApiOkResponse({
    type: PostLikes,
    headers: {
      'X-Liked-By-Viewer-Unavailable': {
        description:
          'present when a token was sent but likedByViewer is null: rebalancing | timeout | no-owner | error | starting',
        schema: { type: 'string' },
      },
    },
  })
  @ApiProblems([400, 401, 503])
  async one(
    @Param('postId') postId: string,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PostLikes> {
    this.reads.checkId(postId);
    const viewer = request.viewer;
    const [view, answer] = await Promise.all([
      this.reads.count(postId),
      viewer ? this.reads.likedByViewer(postId, viewer.userId) : Promise.resolve(undefined),
    ]);
    if (answer && answer.liked === null) void reply.header(UNAVAILABLE_HEADER, answer.reason);
    void reply.header('cache-control', viewer ? 'private, no-store' : 'no-cache');
    if (viewer) void reply.header('vary', 'authorization');
    return { ...view, likedByViewer: answer ? answer.liked : null };
  }

  @Get('likes')
  @ApiOperation({
    summary: 'Like counts of up to 100 posts in one call (one Redis round trip)',
    description:
      'posts: comma-separated ids (at most 100 entries, duplicates included). Duplicates are answered once; ' +
      'the answer keeps the order of first appearance. No likedByViewer here.',
  })
  @ApiQuery({ name: 'posts', required: true, type: String, example: 'post_1,post_2,post_3' })
  @ApiOkResponse({ type: PostCounts })
  @ApiProblems([400, 503])
  async many(
    @Query() query: Record<string, unknown>,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PostCounts> {
    const unknown = Object.keys(query).filter((k) => k !== 'posts');
    if (unknown.length > 0)
      throw new ProblemException(
        400,
        'unknown-parameter',
        `unknown query parameter ${unknown.map((k) => JSON.stringify(k)).join(', ')} (only posts is accepted)`,
      );
    const posts = parsePosts(query.posts, this.reads.maxPosts);
    void reply.header('cache-control', 'no-cache');
    return { posts: await this.reads.counts(posts) };
  }

  @Get('posts/:postId/likes/stream')
  @ApiOperation({
    summary: 'Server-Sent Events: the count now, then every change',
    description:
      'Events `count` with data {postId, count, display, asOf}: the current count at once, then one per change ' +
      '(a slow client skips to the newest). A `: heartbeat` comment every 15 s; `retry:` suggests the reconnect ' +
      'delay. Reconnecting gets the current count at once.',
  })
  @ApiParam(ID_PARAM)
  @ApiProduces('text/event-stream')
  @ApiOkResponse({
    description: 'text/event-stream',
    content: { 'text/event-stream': { schema: { type: 'string' } } },
  })
  @ApiHeader({
    name: 'Last-Event-ID',
    required: false,
    description: 'ignored: a reconnect always gets the current count',
  })
  @ApiProblems([400, 503])
  async stream(@Param('postId') postId: string, @Res() reply: FastifyReply): Promise<void> {
    this.reads.checkId(postId);
    if (!this.reads.acceptingStreams) throw unavailable('the server is shutting down; reconnect', 1);
    // read before committing to a 200, so Redis down is a proper 503 problem
    const current = await this.reads.count(postId);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, SSE_HEADERS);
    const sub = this.reads.watch(postId, current);
    let end = (): void => undefined;
    const untrack = this.reads.trackStream(() => end());
    end = pipeCounts(res, sub, { heartbeatMs: SSE_HEARTBEAT_MS, retryMs: SSE_RETRY_MS, onEnd: untrack });
  }
}
