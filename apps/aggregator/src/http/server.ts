import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { isValidId } from '@doubletap/events';
import type { HealthRegistry, Registry } from '@doubletap/observability';
import type { Aggregator } from '@doubletap/aggregation';

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
  const notOwner = (reply: FastifyReply, p: number) =>
    problem(reply, 409, 'Partition not owned', `partition ${p} is not owned by this aggregator; look the owner up again`, {
      partition: p,
      owned: aggregator.ownedPartitions,
    });

  app.get<{ Params: { p: string; postId: string; userId: string } }>(
    '/internal/partitions/:p/likes/:postId/:userId',
    async (req, reply) => {
      const p = partitionOf(reply, req.params.p);
      if (p === undefined) return reply;
      const { postId, userId } = req.params;
      if (!isValidId(postId) || !isValidId(userId))
        return problem(reply, 400, 'Invalid id', 'postId and userId must match ^[A-Za-z0-9_-]{1,64}$');
      const answer = await aggregator.queryLike(p, postId, userId);
      switch (answer.kind) {
        case 'ok':
          return reply.send({ postId, userId, partition: p, liked: answer.liked, asOfOffset: answer.asOfOffset });
        case 'not-owner':
          return notOwner(reply, p);
        case 'wrong-partition':
          return problem(
            reply,
            400,
            'Wrong partition',
            `${postId}/${userId} belongs to partition ${answer.expected}, not ${p}`,
            { expectedPartition: answer.expected },
          );
        case 'restoring':
          return problem(reply, 503, 'Partition restoring', `partition ${p} is catching its store up to the log`, {
            progress: Number(answer.progress.toFixed(4)),
          }).header('retry-after', '1');
        case 'stopped':
          return problem(reply, 503, 'Partition stopped', `partition ${p} refuses to apply its log: ${answer.reason}`).header(
            'retry-after',
            '30',
          );
      }
    },
  );

  app.get<{ Params: { p: string; postId: string } }>('/internal/partitions/:p/counts/:postId', async (req, reply) => {
    const p = partitionOf(reply, req.params.p);
    if (p === undefined) return reply;
    if (!isValidId(req.params.postId))
      return problem(reply, 400, 'Invalid id', 'postId must match ^[A-Za-z0-9_-]{1,64}$');
    if (!aggregator.ownedPartitions.includes(p)) return notOwner(reply, p);
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

  app.get('/health', async (_req, reply) => {
    const dead = deps.alive();
    return dead === undefined ? reply.send({ status: 'ok' }) : problem(reply, 503, 'Not alive', dead);
  });

  app.get('/ready', async (_req, reply) => {
    const report = await deps.health.report();
    return reply.code(report.status === 'ok' ? 200 : 503).send(report);
  });

  app.get('/metrics', async (_req, reply) => {
    await aggregator.refreshStoreSizes();
    return reply.type(deps.metrics.contentType).send(await deps.metrics.metrics());
  });

  app.setNotFoundHandler((req, reply) => problem(reply, 404, 'Not found', `no route ${req.method} ${req.url}`));
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    return problem(reply, status, status === 500 ? 'Internal error' : 'Bad request', err.message);
  });
  return app;
}
