import type { IncomingMessage } from 'node:http';
import { ProblemException } from './problem';
import { checkRequest, MAX_URL_LENGTH, malformedEscape } from './request-checks';

/**
 * Fastify's frameworkErrors: what the router refuses before any route or hook runs, answered as
 * problems (Fastify's own answers are plain JSON). The request checks come first, so a target that
 * is too long is a 414 whatever else is wrong with it, as it is on every other path.
 */
export function frameworkErrorProblem(
  error: { code?: string; message: string },
  raw: IncomingMessage,
): ProblemException {
  const early = checkRequest(raw);
  if (early) return early;
  const path = (raw.url ?? '').split('?')[0];
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new ProblemException(
        400,
        'malformed-path',
        `the path has malformed percent-encoding: ${malformedEscape(path) ?? 'it does not decode to a valid URL component'}`,
      );
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ProblemException(
        414,
        'uri-too-long',
        `a path segment is longer than ${MAX_URL_LENGTH} characters`,
      );
    default:
      return new ProblemException(400, 'bad-request', `the request cannot be routed: ${error.message}`);
  }
}
