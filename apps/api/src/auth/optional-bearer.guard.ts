import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { JwtVerifier } from '@doubletap/auth';
import { verifyBearer } from './bearer.guard';

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
    if (request.headers.authorization === undefined) return true;
    return verifyBearer(this.verifier, request);
  }
}
