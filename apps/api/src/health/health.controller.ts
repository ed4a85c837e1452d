import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { HealthRegistry, Registry } from '@doubletap/observability';
import { replyOps, type OpsDeps } from '@doubletap/runtime';
import { HEALTH, METRICS } from '../platform/tokens';

/** The api's /health, /ready and /metrics: the answers every app gives (libs/runtime opsAnswer), documented in /docs. */
@ApiTags('operations')
@Controller()
export class HealthController {
  private readonly deps: OpsDeps;

  constructor(@Inject(HEALTH) health: HealthRegistry, @Inject(METRICS) metrics: Registry) {
    this.deps = { health, metrics };
  }

  /** Liveness: the process serves HTTP. */
  @Get('health')
  @ApiOkResponse({ description: 'the process is alive' })
  live(@Res() reply: FastifyReply): Promise<void> {
    return replyOps(reply, '/health', this.deps);
  }

  /** Readiness: the producer is connected, the schema id resolved, Redis reachable, the read side complete. */
  @Get('ready')
  @ApiOkResponse({ description: 'every dependency is usable' })
  @ApiServiceUnavailableResponse({ description: 'a dependency is not usable: a problem whose `checks` name it (Retry-After: 1)' })
  ready(@Res() reply: FastifyReply): Promise<void> {
    return replyOps(reply, '/ready', this.deps);
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  prometheus(@Res() reply: FastifyReply): Promise<void> {
    return replyOps(reply, '/metrics', this.deps);
  }
}
