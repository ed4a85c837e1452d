import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { isValidId } from '@doubletap/events';
import type { HealthRegistry, Registry } from '@doubletap/observability';
import { registerOpsRoutes } from '@doubletap/runtime';
import type { Aggregator, LikeQuery } from '@doubletap/aggregation';

/** Most (partition, post, user) questions in one POST /internal/likes/query. */
export const MAX_LIKE_QUERIES = 1000;

/** An interactive query's answer: the 200 body, or a problem with its status (and Retry-After). */
type QueryAnswer =
  | { status: 200; body: object }
  | { status: number; title: string; detail: string; extra?: object; retryAfter?: string };

export interface InternalServerDeps {
  aggregator: Aggregator;
  partitions: number;
  metrics: Registry;
  health: HealthRegistry;
  /** liveness: why the process is not alive (a fatal error, a dead consumer), or undefined when it is */
  alive: () => string | undefined;
}

function problem(reply: FastifyReply, status: number, title: string, detail: string, extra: object = {}): FastifyReply {
  return reply
    .code(status)
    .type('application/problem+json')
    .send({ type: 'about:blank', title, status, detail, ...extra });
}

/**
 * The aggregator's internal HTTP surface: interactive queries against the stores this process owns,
 * health, readiness and Prometheus metrics. Not for the public internet (the api fronts it).
 */
export function buildInternalServer(deps: InternalServerDeps): FastifyInstance {
  const app = Fastify({ logger: false });
  const { aggregator } = deps;

  const partitionOf = (reply: FastifyReply, raw: string): number | undefined => {
    const p = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(p) || p >= deps.partitions) {
      void problem(reply, 404, 'Unknown partition', `partition ${raw} is not a partition of the input topic (0..${deps.partitions - 1})`);
      return undefined;
    }
    return p;
  };
  const notOwned = (p: number): QueryAnswer => ({
    status: 409,
    title: 'Partition not owned',
    detail: `partition ${p} is not owned by this aggregator; look the owner up again`,
    extra: { partition: p, owned: aggregator.ownedPartitions },
  });
  const answer = (reply: FastifyReply, a: QueryAnswer) => {
    if ('body' in a) return reply.send(a.body);
    if (a.retryAfter) void reply.header('retry-after', a.retryAfter);
    return problem(reply, a.status, a.title, a.detail, a.extra);
  };

  /** One answer as the single-question endpoint gives it: status, body, and Retry-After when it has one. */
  const answerOf = (p: number, postId: string, userId: string, answer: LikeQuery): QueryAnswer => {
    switch (answer.kind) {
      case 'ok':
        return { status: 200, body: { postId, userId, partition: p, liked: answer.liked, asOfOffset: answer.asOfOffset } };
      case 'not-owner':
        return notOwned(p);
      case 'wrong-partition':
        return {
          status: 400,
          title: 'Wrong partition',
          detail: `${postId}/${userId} belongs to partition ${answer.expected}, not ${p}`,
          extra: { expectedPartition: answer.expected },
        };
      case 'restoring':
        return {
          status: 503,
          title: 'Partition restoring',
          detail: `partition ${p} is catching its store up to the log`,
          extra: { progress: Number(answer.progress.toFixed(4)) },
          retryAfter: '1',
        };
      case 'stopped':
        return { status: 503, title: 'Partition stopped', detail: `partition ${p} refuses to apply its log: ${answer.reason}`, retryAfter: '30' };
    }
  };

  app.get<{ Params: { p: string; postId: string; userId: string } }>(
    '/internal/partitions/:p/likes/:postId/:userId',
    async (req, reply) => {
      const p = partitionOf(reply, req.params.p);
      if (p === undefined) return reply;
      const { postId, userId } = req.params;
      if (!isValidId(postId) || !isValidId(userId))
        return problem(reply, 400, 'Invalid id', 'postId and userId must match ^[A-Za-z0-9_-]{1,64}$');
      return answer(reply, answerOf(p, postId, userId, await aggregator.queryLike(p, postId, userId)));
    },
  );

  // many questions in one request (the api batches concurrent viewers per aggregator): each answer is
  // what the single-question endpoint would answer, with its status inside, in the order asked
  app.post<{ Body: unknown }>('/internal/likes/query', async (req, reply) => {
    const queries = (req.body as { queries?: unknown } | null)?.queries;
    if (!Array.isArray(queries) || queries.length < 1 || queries.length > MAX_LIKE_QUERIES)
      return problem(reply, 400, 'Invalid batch', `body must be {"queries": [...]} with 1..${MAX_LIKE_QUERIES} questions`);
    const bad = queries.findIndex((q: unknown) => {
      const { partition, postId, userId } = (q ?? {}) as Record<string, unknown>;
      return !Number.isSafeInteger(partition) || typeof postId !== 'string' || !isValidId(postId) || typeof userId !== 'string' || !isValidId(userId);
    });
    if (bad >= 0)
      return problem(reply, 400, 'Invalid question', `queries[${bad}] must be {partition: integer, postId, userId} with ids matching ^[A-Za-z0-9_-]{1,64}$`);
    const asked = queries as { partition: number; postId: string; userId: string }[];
    const known = (p: number) => p >= 0 && p < deps.partitions;
    const found = await aggregator.queryLikes(asked.filter((q) => known(q.partition)));
    let k = 0;
    const answers = asked.map(({ partition: p, postId, userId }) => {
      if (!known(p)) {
        return { status: 404, partition: p, postId, userId, title: 'Unknown partition', detail: `partition ${p} is not a partition of the input topic (0..${deps.partitions - 1})` };
      }
      const a = answerOf(p, postId, userId, found[k++]);
      return 'body' in a ? { status: 200, ...a.body } : { status: a.status, partition: p, postId, userId, title: a.title, detail: a.detail, ...a.extra };
    });
    return reply.send({ answers });
  });

  app.get<{ Params: { p: string; postId: string } }>('/internal/partitions/:p/counts/:postId', async (req, reply) => {
    const p = partitionOf(reply, req.params.p);
    if (p === undefined) return reply;
    if (!isValidId(req.params.postId))
      return problem(reply, 400, 'Invalid id', 'postId must match ^[A-Za-z0-9_-]{1,64}$');
    if (!aggregator.ownedPartitions.includes(p)) return answer(reply, notOwned(p));
    const c = await aggregator.queryCount(p, req.params.postId);
    if (!c)
      return problem(reply, 503, 'Partition restoring', `partition ${p} is restoring its store from the log`).header(
        'retry-after',
        '1',
      );
    return reply.send({ postId: req.params.postId, partition: p, count: c.count, asOfOffset: c.asOfOffset });
  });

  app.get('/internal/partitions', async (_req, reply) => {
    const owned = await Promise.all(aggregator.ownedPartitions.map((p) => aggregator.partitionStatus(p)));
    return reply.send({ member: aggregator.memberInfo ?? null, partitions: owned.filter(Boolean) });
  });

  registerOpsRoutes(app, { health: deps.health, metrics: deps.metrics, alive: deps.alive, beforeMetrics: () => aggregator.refreshStoreSizes() });

  app.setNotFoundHandler((req, reply) => problem(reply, 404, 'Not found', `no route ${req.method} ${req.url}`));
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return problem(reply, status, status === 500 ? 'Internal error' : 'Bad request', err.message);
  });
  return app;
}
