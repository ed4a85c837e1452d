import { Controller, Get, Param, Query, Req, Res, UseGuards } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiProduces,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import { RouteSchema } from '@nestjs/platform-fastify';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ID_PATTERN } from '@doubletap/events';
import { OptionalBearerGuard } from '../auth/optional-bearer.guard';
import { IdPipe } from '../http/id.pipe';
import { ApiProblems } from '../http/problem.dto';
import { unavailable } from '../http/problem-types';
import { PostsQueryPipe } from './posts-query.pipe';
import { ReadSide } from './read-side.service';
import { PostCounts, PostLikes } from './reads.dto';
import { pipeCounts, SSE_HEADERS } from './sse';

const ID_PARAM = { name: 'postId', schema: { type: 'string', pattern: ID_PATTERN.source } } as const;
export const UNAVAILABLE_HEADER = 'x-liked-by-viewer-unavailable';
export const SSE_HEARTBEAT_MS = 15_000;
export const SSE_RETRY_MS = 2_000;

/** The 200 body of GET one post, for Fastify's compiled serializer (the hot read: no generic JSON.stringify). */
const POST_LIKES_SCHEMA = {
  type: 'object',
  properties: {
    postId: { type: 'string' },
    count: { type: 'number' },
    display: { type: 'string' },
    asOf: { type: ['string', 'null'] },
    likedByViewer: { type: ['boolean', 'null'] },
  },
  required: ['postId', 'count', 'display', 'asOf', 'likedByViewer'],
} as const;

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
  @RouteSchema({ response: { 200: POST_LIKES_SCHEMA } })
  async one(
    @Param('postId', IdPipe) postId: string,
    @Req() request: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PostLikes> {
    const viewer = request.viewer;
    if (!viewer) {
      const view = await this.reads.count(postId);
      void reply.header('cache-control', 'no-cache');
      return { ...view, likedByViewer: null };
    }
    const [view, answer] = await Promise.all([this.reads.count(postId), this.reads.likedByViewer(postId, viewer.userId)]);
    if (answer.liked === null) void reply.header(UNAVAILABLE_HEADER, answer.reason);
    void reply.header('cache-control', 'private, no-store');
    void reply.header('vary', 'authorization');
    return { ...view, likedByViewer: answer.liked };
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
    @Query(PostsQueryPipe) posts: string[],
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<PostCounts> {
    void reply.header('cache-control', 'no-cache');
    return { posts: await this.reads.many(posts) };
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
  async stream(@Param('postId', IdPipe) postId: string, @Res() reply: FastifyReply): Promise<void> {
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
