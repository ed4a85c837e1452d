import { HttpException } from '@nestjs/common';

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
const TYPE_BASE = 'https://doubletap.dev/problems/';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export const titleFor = (status: number): string =>
  TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
export const problemType = (slug: string): string => `${TYPE_BASE}${slug}`;

/** Thrown anywhere in the api; the ProblemFilter renders it as application/problem+json. */
export class ProblemException extends HttpException {
  constructor(
    status: number,
    readonly slug: string,
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

export const unavailable = (detail: string, retryAfterSec = 1): ProblemException =>
  new ProblemException(503, 'unavailable', detail, { 'retry-after': String(retryAfterSec) });
