import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { JwtVerifier, TokenRejected } from '@doubletap/auth';
import { ProblemException } from '../http/problem';

/**
 * Optional authentication for reads: no Authorization header → anonymous (request.viewer stays
 * undefined); a header that is there but not a valid bearer JWT → 401, never silently anonymous
 * (a client with an expired token should learn it, not get likedByViewer: null forever).
 */
@Injectable()
export class OptionalBearerGuard implements CanActivate {
  constructor(private readonly verifier: JwtVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers.authorization;
    if (header === undefined) return true;
    try {
      request.viewer = await this.verifier.verifyHeader(header);
      return true;
    } catch (e) {
      if (e instanceof TokenRejected)
        throw new ProblemException(401, 'unauthorized', e.message, {
          'www-authenticate': `Bearer error="invalid_token", error_description="${e.message.replace(/"/g, "'")}"`,
        });
      throw e;
    }
  }
}
