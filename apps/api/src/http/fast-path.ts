import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JwtVerifier, Viewer } from '@doubletap/auth';
import { isValidId, type LikeAction } from '@doubletap/events';
import type { LikesService } from '../likes/likes.service';
import { postLikesAnswer } from '../likes/likes.dto';
import type { ReadSide } from '../reads/read-side.service';
import type { PostLikes } from '../reads/reads.dto';
import { UNAVAILABLE_HEADER } from '../reads/reads.controller';
import type { ProblemFilter } from './problem.filter';

/** The route of likes, unlikes and the one-post read, as Nest registers it on Fastify. */
export const POST_LIKES_ROUTE = '/v1/posts/:postId/likes';

/** What the 202 of a like or unlike is sent as (Fastify's for a serialized object). */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export interface FastPathServices {
  verifier: JwtVerifier;
  problems: ProblemFilter;
  /** absent in an app without the likes module */
  likes?: LikesService;
  /** absent in an app without the reads module */
  reads?: ReadSide;
}

/**
 * Likes, unlikes and the one-post read with a bearer token, without Nest's per-request pipeline
 * (ADR 0020, the same way as the anonymous read of ADR 0015).
 *
 * The routes stay Nest's (OpenAPI, the read's response schema and its compiled serializer, every
 * Fastify hook: edge checks, admission control in front of Fastify, metrics, request log); only
 * their handlers are wrapped when Fastify registers them. A request is answered here when its
 * token was verified before and has not expired (JwtVerifier.knownViewer: synchronous, what
 * BearerGuard and OptionalBearerGuard accept without a promise) and its postId passes the IdPipe
 * check; it then calls the same service methods the controllers call and answers the same bytes
 * (the errors through the same ProblemFilter). Anything else (no token, an unknown, expired or
 * broken one, an invalid or empty id) goes to Nest's handler unchanged, so the guards, IdPipe and
 * their problems stay the one source of those answers.
 */
export function installFastPaths(fastify: FastifyInstance, services: FastPathServices): void {
  const { verifier, problems, likes, reads } = services;
  fastify.addHook('onRoute', (route) => {
    if (route.url !== POST_LIKES_ROUTE) return;
    const nest = route.handler;
    const known = (request: FastifyRequest): Viewer | undefined => {
      const header = request.headers.authorization;
      if (header === undefined) return undefined;
      const viewer = verifier.knownViewer(header);
      return viewer && isValidId((request.params as { postId?: unknown }).postId) ? viewer : undefined;
    };
    /**
     * Nest's handler wrapped: a request with a known viewer and a valid id is answered by `answer`
     * (its errors, thrown or rejected, through the ProblemFilter), anything else by Nest.
     */
    const fast = <T>(
      start: (postId: string, viewer: Viewer, request: FastifyRequest) => Promise<T>,
      answer: (reply: FastifyReply, value: T) => void,
    ) =>
      function fastHandler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
        const viewer = known(request);
        if (!viewer) return nest.call(this, request, reply);
        request.viewer = viewer;
        let pending: Promise<T>;
        try {
          pending = start((request.params as { postId: string }).postId, viewer, request);
        } catch (e) {
          problems.send(e, request, reply);
          return undefined;
        }
        pending.then(
          (value) => answer(reply, value),
          (e: unknown) => problems.send(e, request, reply),
        );
        // nothing returned: the reply is sent above
        return undefined;
      };
    if (likes && (route.method === 'POST' || route.method === 'DELETE')) {
      const action: LikeAction = route.method === 'POST' ? 'LIKE' : 'UNLIKE';
      route.handler = fast(
        (postId, viewer, request) => likes.accept(action, postId, viewer.userId, request.body),
        (reply, accepted) =>
          void reply.code(202).header('content-type', JSON_CONTENT_TYPE).send(postLikesAnswer(accepted)),
      );
    } else if (reads && route.method === 'GET') {
      // what ReadsController.one does for a viewer, in the same order (headers included)
      route.handler = fast(
        (postId, viewer) => {
          const count = reads.count(postId);
          return Promise.all([count, reads.likedByViewer(postId, viewer.userId)]);
        },
        (reply, [view, answer]) => {
          if (answer.liked === null) void reply.header(UNAVAILABLE_HEADER, answer.reason);
          void reply.header('cache-control', 'private, no-store');
          void reply.header('vary', 'authorization');
          const body: PostLikes = {
            postId: view.postId,
            count: view.count,
            display: view.display,
            asOf: view.asOf,
            likedByViewer: answer.liked,
          };
          void reply.send(body);
        },
      );
    }
  });
}
