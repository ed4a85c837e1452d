import { type CanActivate, createParamDecorator, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { JwtVerifier, TokenRejected, type Viewer } from '@doubletap/auth';
import { ProblemException } from '../http/problem';

declare module 'fastify' {
  interface FastifyRequest {
    viewer?: Viewer;
  }
}

/** Verifies the bearer JWT; the viewer (token `sub`) is put on the request. Any failure is a 401. */
@Injectable()
export class BearerGuard implements CanActivate {
  constructor(private readonly verifier: JwtVerifier) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // a token verified before (and not expired): no promise, Nest goes on synchronously
    const known = this.verifier.knownViewer(request.headers.authorization);
    if (known) {
      request.viewer = known;
      return true;
    }
    return verifyBearer(this.verifier, request);
  }
}

/**
 * Verifies the request's bearer JWT and puts the viewer (token `sub`) on the request; a rejected
 * token is a 401 problem with a WWW-Authenticate challenge. Shared by BearerGuard and OptionalBearerGuard.
 */
export async function verifyBearer(verifier: JwtVerifier, request: FastifyRequest): Promise<boolean> {
  try {
    request.viewer = await verifier.verifyHeader(request.headers.authorization);
    return true;
  } catch (e) {
    if (e instanceof TokenRejected)
      throw new ProblemException(401, 'unauthorized', e.message, {
        'www-authenticate': `Bearer error="invalid_token", error_description="${errorDescription(e.message)}"`,
      });
    throw e;
  }
}

/**
 * RFC 6750 allows only printable ASCII without " and \ in error_description. A rejection can quote
 * parts of the token (its alg, its sub), and a character Node refuses in a header value would turn
 * the 401 into a 500; anything else becomes '?', and the text is cut to 200 characters (the detail
 * of the problem body keeps the full reason).
 */
export function errorDescription(message: string): string {
  const safe = message.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '?');
  return safe.length > 200 ? `${safe.slice(0, 197)}...` : safe;
}

/** The verified viewer of the request (only on routes behind BearerGuard). */
export const CurrentViewer = createParamDecorator((_: unknown, context: ExecutionContext): Viewer => {
  const viewer = context.switchToHttp().getRequest<FastifyRequest>().viewer;
  if (!viewer) throw new ProblemException(401, 'unauthorized', 'missing bearer token');
  return viewer;
});
