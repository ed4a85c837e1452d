import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { HealthRegistry, Registry } from '@doubletap/observability';
import { HEALTH, METRICS } from '../platform/tokens';

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    @Inject(HEALTH) private readonly health: HealthRegistry,
    @Inject(METRICS) private readonly metrics: Registry,
  ) {}

  /** Liveness: the process serves HTTP. */
  @Get('health')
  @ApiOkResponse({ description: 'the process is alive' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: the producer is connected, the schema id resolved, Redis reachable. */
  @Get('ready')
  @ApiOkResponse({ description: 'every dependency is usable' })
  @ApiServiceUnavailableResponse({ description: 'a dependency is not usable; the report names it' })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<unknown> {
    const report = await this.health.report(1000);
    void reply.status(report.status === 'ok' ? 200 : 503);
    if (report.status !== 'ok') void reply.header('retry-after', '1');
    return report;
  }

  @Get('metrics')
  @ApiExcludeEndpoint()
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async prometheus(): Promise<string> {
    return this.metrics.metrics();
  }
}
