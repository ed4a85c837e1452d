import type { Server } from 'node:http';
import type { FastifyHttpOptions, FastifyInstance } from 'fastify';
import { frameworkErrorProblem } from './framework-errors';
import { sendProblem } from './problem';
import { unavailable } from './problem-types';
import { checkRequest, MAX_URL_LENGTH } from './request-checks';
import { answerClientError, MAX_HEADER_BYTES, refuseConnect, refuseExpectation } from './wire-errors';

/**
 * Server options that route every answer the HTTP layers give on their own (Node's parser,
 * Node's Host and Expect handling, Fastify's router) through problem+json.
 */
export function edgeServerOptions(): Pick<
  FastifyHttpOptions<Server>,
  'http' | 'routerOptions' | 'return503OnClosing' | 'frameworkErrors' | 'clientErrorHandler'
> {
  return {
    // a missing Host is answered by checkRequest with a problem, not by Node with an empty 400
    http: { requireHostHeader: false, maxHeaderSize: MAX_HEADER_BYTES },
    // Fastify answers a longer path parameter itself (414, plain JSON); the URL limit is checked instead
    routerOptions: { maxParamLength: MAX_URL_LENGTH },
    // answered by the onRequest hook below as a problem with Retry-After
    return503OnClosing: false,
    frameworkErrors: (error, request, reply) =>
      sendProblem(reply, frameworkErrorProblem(error, request.raw), request.raw.url),
    clientErrorHandler: answerClientError,
  };
}

/**
 * The hooks and server listeners of the edge: the raw request checks before routing, CONNECT and
 * unknown Expect values, and graceful shutdown (once closing, new requests get a 503 and every
 * response closes its connection, so keep-alive clients cannot hold the server open: Fastify's
 * keepAliveTimeout is 72 s).
 */
export function installEdge(fastify: FastifyInstance): void {
  let closing = false;
  fastify.server.on('connect', refuseConnect);
  fastify.server.on('checkExpectation', refuseExpectation);
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    const problem = closing
      ? unavailable('the server is shutting down; retry (another instance will answer)', 1)
      : checkRequest(request.raw);
    if (problem) return sendProblem(reply, problem, request.raw.url);
    done();
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });
}
