import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { loadSettings } from '@doubletap/config';
import { createLogger, NestPinoLogger } from '@doubletap/observability';
import { MonitorModule } from './monitor.module';

async function bootstrap(): Promise<void> {
  const settings = loadSettings();
  const app = await NestFactory.create<NestFastifyApplication>(MonitorModule, new FastifyAdapter(), {
    logger: new NestPinoLogger(createLogger('monitor', settings.logLevel)),
  });
  app.enableShutdownHooks();
  await app.listen(settings.monitor.port, settings.monitor.host);
}

bootstrap().catch((e: unknown) => {
  process.stderr.write(`monitor: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
