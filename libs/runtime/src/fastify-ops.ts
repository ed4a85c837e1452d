import { OPS_PATHS, opsAnswer, problemAnswer, type OpsDeps, type OpsPath } from './ops';

/** The part of a Fastify reply the ops answers need (no import of fastify itself). */
export interface ReplyLike {
  code(status: number): ReplyLike;
  headers(values: Record<string, string>): ReplyLike;
  send(body: string): unknown;
}

/** The part of a Fastify instance the ops routes need. */
export interface RouteHost {
  get(path: string, handler: (req: unknown, reply: ReplyLike) => Promise<unknown>): unknown;
}

/** Sends the ops answer for `path` on a Fastify reply (also from a Nest controller with @Res()). */
export async function replyOps(reply: ReplyLike, path: OpsPath, deps: OpsDeps): Promise<void> {
  const a = await opsAnswer(path, deps).catch((e: unknown) => problemAnswer(500, 'Internal Server Error', String(e)));
  await reply.code(a.status).headers(a.headers).send(a.body);
}

/** Mounts /health, /ready and /metrics (opsAnswer) on an app's own Fastify server. */
export function registerOpsRoutes(app: RouteHost, deps: OpsDeps): void {
  for (const path of OPS_PATHS) app.get(path, (_req, reply) => replyOps(reply, path, deps));
}
