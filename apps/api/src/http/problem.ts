import { HttpException } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { problemType, type ProblemSlug } from '@doubletap/problems';

/** RFC 9457 problem details; `type` names the kind of problem, `detail` says what exactly was wrong. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  [extension: string]: unknown;
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export const titleFor = (status: number): string =>
  TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
export { problemType };

/** Thrown anywhere in the api; the ProblemFilter renders it as application/problem+json. */
export class ProblemException extends HttpException {
  constructor(
    status: number,
    readonly slug: ProblemSlug,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
    readonly extensions: Record<string, unknown> = {},
  ) {
    super(detail, status);
  }

  toProblem(instance?: string): Problem {
    return {
      type: problemType(this.slug),
      title: titleFor(this.getStatus()),
      status: this.getStatus(),
      detail: this.detail,
      instance,
      ...this.extensions,
    };
  }
}

/** The path of a raw request target (what `instance` names): no query, and at most 200 characters. */
export function instanceOf(url: string | undefined): string {
  const path = (url ?? '').split('?')[0];
  return path.length > 200 ? `${path.slice(0, 200)}...` : path;
}

/** Answers a problem from outside Nest (Fastify hooks and framework errors); the hooks still run. */
export function sendProblem(reply: FastifyReply, problem: ProblemException, url: string | undefined): void {
  void reply
    .status(problem.getStatus())
    .headers(problem.headers)
    .header('content-type', PROBLEM_CONTENT_TYPE)
    .send(Buffer.from(JSON.stringify(problem.toProblem(instanceOf(url)))));
}

/** A value quoted for a detail: JSON, cut to `max` characters with the full length said. */
export function quote(value: unknown, max = 100): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > max
    ? `${JSON.stringify(text.slice(0, max))}... (${text.length} characters)`
    : JSON.stringify(text);
}
