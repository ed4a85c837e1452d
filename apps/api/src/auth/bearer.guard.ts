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
        'www-authenticate': `Bearer error="invalid_token", error_description="${e.message.replace(/"/g, "'")}"`,
      });
    throw e;
  }
}

/** The verified viewer of the request (only on routes behind BearerGuard). */
export const CurrentViewer = createParamDecorator((_: unknown, context: ExecutionContext): Viewer => {
  const viewer = context.switchToHttp().getRequest<FastifyRequest>().viewer;
  if (!viewer) throw new ProblemException(401, 'unauthorized', 'missing bearer token');
  return viewer;
});
