import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { HealthRegistry, type Registry } from '@doubletap/observability';
import { replyOps, type OpsDeps } from '@doubletap/runtime';
import { LagMonitorService } from './lag-monitor.service';
import { STATUS_PAGE } from './status-page';
import { METRICS } from './tokens';

@Controller()
export class MonitorController {
  private readonly ops: OpsDeps;

  constructor(
    private readonly monitor: LagMonitorService,
    @Inject(METRICS) registry: Registry,
  ) {
    const health = new HealthRegistry();
    // ready once a lag sample succeeded within three intervals
    health.register('lag-sample', async () => {
      if (!monitor.ready()) throw new Error(monitor.status().error ?? 'no recent lag sample');
    });
    this.ops = { health, metrics: registry };
  }

  @Get('status')
  status() {
    return this.monitor.status();
  }

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  page(): string {
    return STATUS_PAGE;
  }

  @Get('metrics')
  metrics(@Res() reply: FastifyReply): Promise<void> {
    return replyOps(reply, '/metrics', this.ops);
  }

  @Get('health')
  health(@Res() reply: FastifyReply): Promise<void> {
    return replyOps(reply, '/health', this.ops);
  }

  @Get('ready')
  ready(@Res() reply: FastifyReply): Promise<void> {
    return replyOps(reply, '/ready', this.ops);
  }
}
