import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  NotFoundException,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '@doubletap/observability';
import {
  instanceOf,
  type Problem,
  PROBLEM_CONTENT_TYPE,
  ProblemException,
  problemType,
  quote,
  titleFor,
} from './problem';
import type { ProblemSlug } from './problem-types';
import { checkRequest } from './request-checks';
import type { RouteTable } from './route-table';

/**
 * Renders every error — ours, Nest's, and Fastify's own (unknown route, body too large, bad JSON,
 * unsupported media type, a body stream that broke off) — as application/problem+json. Only an
 * error that is neither an HTTP error nor marked with a 4xx status becomes a 500, and it is
 * logged; its message is never shown to the client.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(
    private readonly logger: Logger,
    private readonly routes: RouteTable,
    private readonly bodyLimitBytes: number,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const ctx = host.switchToHttp();
    this.send(exception, ctx.getRequest<FastifyRequest>(), ctx.getResponse<FastifyReply>());
  }

  /** Answers the request with the problem the exception stands for (also for routes that bypass Nest's pipeline). */
  send(exception: unknown, request: FastifyRequest, reply: FastifyReply): void {
    const path = request.url.split('?')[0];
    const { problem, headers } = this.toProblem(exception, request, path);
    problem.instance = instanceOf(path);
    if (problem.status >= 500 && !(exception instanceof ProblemException))
      this.logger.error({ err: exception, method: request.method, path }, 'unhandled error');
    void reply
      .status(problem.status)
      .headers(headers)
      .header('content-type', PROBLEM_CONTENT_TYPE)
      .send(Buffer.from(JSON.stringify(problem)));
  }

  private toProblem(
    exception: unknown,
    request: FastifyRequest,
    path: string,
  ): { problem: Problem; headers: Record<string, string> } {
    if (exception instanceof ProblemException)
      return { problem: exception.toProblem(path), headers: exception.headers };
    if (exception instanceof NotFoundException && request.routeOptions?.url === undefined) {
      // Fastify's 404 router calls the not-found handler directly, without the onRequest checks,
      // for a malformed path under a method that has no routes (PUT): the checks decide first
      const early = checkRequest(request.raw);
      if (early) return { problem: early.toProblem(path), headers: early.headers };
      const allowed = this.routes.allowed(path);
      if (allowed.length > 0) {
        return {
          problem: this.make(
            405,
            'method-not-allowed',
            `${request.method} is not allowed on ${path} (allowed: ${allowed.join(', ')})`,
            path,
          ),
          headers: { allow: allowed.join(', ') },
        };
      }
      return {
        problem: this.make(404, 'not-found', `no route for ${request.method} ${path}`, path),
        headers: {},
      };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const message = messageOf(exception);
      switch (status) {
        case 413:
          return {
            problem: this.make(
              413,
              'body-too-large',
              `the request body exceeds the limit of ${this.bodyLimitBytes} bytes`,
              path,
            ),
            headers: {},
          };
        case 415: {
          const type = request.headers['content-type'];
          return {
            problem: this.make(
              415,
              'unsupported-media-type',
              type === undefined
                ? 'the request has a body but no content-type; send no body or application/json'
                : `content-type ${quote(type)} is not supported; send no body or application/json`,
              path,
            ),
            headers: {},
          };
        }
        case 400:
          return { problem: this.make(400, 'bad-request', `invalid request: ${message}`, path), headers: {} };
        default:
          return {
            problem: this.make(status, status >= 500 ? 'server-error' : 'client-error', message, path),
            headers: {},
          };
      }
    }
    // Node and Fastify mark what the client caused with a 4xx statusCode even on plain errors
    // (a request body that broke off: "aborted"); those are client errors, not 500s
    const status = statusOf(exception);
    if (status !== undefined)
      return {
        problem: this.make(
          status,
          'bad-request',
          `the request could not be read: ${exception instanceof Error ? exception.message : 'unknown error'}`,
          path,
        ),
        headers: {},
      };
    return {
      problem: this.make(500, 'server-error', 'the server failed to handle the request', path),
      headers: {},
    };
  }

  private make(status: number, slug: ProblemSlug, detail: string, instance: string): Problem {
    return { type: problemType(slug), title: titleFor(status), status, detail, instance };
  }
}

function messageOf(e: HttpException): string {
  const response = e.getResponse();
  if (typeof response === 'string') return response;
  if (response && typeof response === 'object' && 'message' in response) {
    const m: unknown = response.message;
    return Array.isArray(m) ? m.map(String).join('; ') : String(m);
  }
  return e.message;
}

function statusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const status = (e as { statusCode?: unknown }).statusCode ?? (e as { status?: unknown }).status;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status < 500
    ? status
    : undefined;
}
