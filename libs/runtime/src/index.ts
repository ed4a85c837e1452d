export { isOpsPath, OPS_PATHS, opsAnswer, problemAnswer } from './ops';
export type { OpsAnswer, OpsDeps, OpsPath } from './ops';
export { startOpsServer } from './ops-server';
export type { OpsServer } from './ops-server';
export { registerOpsRoutes, replyOps } from './fastify-ops';
export type { ReplyLike, RouteHost } from './fastify-ops';
export { runWorker } from './lifecycle';
export type { ProcessPort, Stoppable, WorkerContext, WorkerOptions } from './lifecycle';
