export { buildJsonPost, buildRequest, buildRequestPrefix, PipelinedClient } from './pipelined-client';
export type { AnswerHandler, NoAnswer } from './pipelined-client';
