import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidId } from '@doubletap/events';
import type { ProblemFilter } from '../http/problem.filter';
import type { ReadSide } from './read-side.service';
import type { PostCount } from './reads.dto';

/** The route of the hot read, as Nest registers it on Fastify (ReadsController.one). */
export const HOT_READ_ROUTE = '/v1/posts/:postId/likes';

/**
 * The anonymous GET of one post's count without Nest's per-request pipeline (ADR 0015).
 *
 * The route stays Nest's (OpenAPI, the response schema and its compiled serializer, every Fastify
 * hook: edge checks, metrics, request log); only its handler is wrapped when Fastify registers it.
 * A request without an Authorization header whose postId passes the IdPipe check is answered here
 * with what ReadsController.one answers for it: the same ReadSide.count, `cache-control: no-cache`,
 * status 200, the body through the same schema; an error through the same ProblemFilter. Anything
 * else (a token, valid or not; an invalid or empty id) goes to Nest's handler unchanged, so the
 * guard, IdPipe and their problems stay the one source of those answers.
 */
export function installHotRead(fastify: FastifyInstance, reads: ReadSide, problems: ProblemFilter): void {
  fastify.addHook('onRoute', (route) => {
    if (route.url !== HOT_READ_ROUTE || route.method !== 'GET') return;
    const nest = route.handler;
    route.handler = function hotRead(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      const postId = (request.params as { postId?: unknown }).postId;
      if (request.headers.authorization !== undefined || !isValidId(postId))
        return nest.call(this, request, reply);
      let pending: Promise<PostCount>;
      try {
        pending = reads.count(postId);
      } catch (e) {
        // the controller's handler is async: there a synchronous throw is a rejection, so here too
        problems.send(e, request, reply);
        return undefined;
      }
      pending.then(
        (view) => {
          void reply
            .header('cache-control', 'no-cache')
            .code(200)
            .send({
              postId: view.postId,
              count: view.count,
              display: view.display,
              asOf: view.asOf,
              likedByViewer: null,
            });
        },
        (e: unknown) => problems.send(e, request, reply),
      );
      // nothing returned: Fastify would send a returned value; the reply is sent above
      return undefined;
    };
  });
}
