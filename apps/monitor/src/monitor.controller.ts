import { Controller, Get, Header, HttpException, Inject } from '@nestjs/common';
import type { Registry } from '@doubletap/observability';
import { LagMonitorService } from './lag-monitor.service';
import { STATUS_PAGE } from './status-page';
import { METRICS } from './tokens';

@Controller()
export class MonitorController {
  constructor(
    private readonly monitor: LagMonitorService,
    @Inject(METRICS) private readonly registry: Registry,
  ) {}

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
  @Header('content-type', 'text/plain; version=0.0.4')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  @Get('health')
  health() {
    return { status: 'ok' };
  }

  @Get('ready')
  ready() {
    if (!this.monitor.ready()) throw new HttpException({ status: 'unavailable', error: this.monitor.status().error ?? 'no recent sample' }, 503);
    return { status: 'ok' };
  }
}
