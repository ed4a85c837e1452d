import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { NestPinoLogger } from '@doubletap/observability';
import { runWorker } from '@doubletap/runtime';
import { MonitorModule } from './monitor.module';

void runWorker({
  name: 'monitor',
  graceMs: () => 10000,
  start: async ({ settings, logger }) => {
    const app = await NestFactory.create<NestFastifyApplication>(MonitorModule.register(settings), new FastifyAdapter(), {
      logger: new NestPinoLogger(logger),
    });
    await app.listen(settings.monitor.port, settings.monitor.host);
    logger.info({ url: await app.getUrl() }, 'listening');
    return { stop: () => app.close() };
  },
});
