import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Settings } from '@doubletap/config';
import {
  createLogger,
  createMetricsRegistry,
  histogram,
  type Logger,
  NestPinoLogger,
} from '@doubletap/observability';
import { AppModule } from './app.module';
import { setupDocs } from './http/docs';
import { ProblemFilter } from './http/problem.filter';
import { RouteTable } from './http/route-table';

export interface ApiApp {
  app: NestFastifyApplication;
  logger: Logger;
}

/** Builds the api (not yet listening): Fastify, problem+json errors, request metrics and logs, OpenAPI at /docs. */
export async function createApp(
  settings: Settings,
  logger = createLogger('api', settings.logLevel),
): Promise<ApiApp> {
  const metrics = createMetricsRegistry('api');
  const adapter = new FastifyAdapter({ bodyLimit: settings.api.bodyLimitBytes, return503OnClosing: true });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.register(settings, logger, metrics),
    adapter,
    {
      logger: new NestPinoLogger(logger.child({ component: 'nest' })),
      bodyParser: false,
      abortOnError: false,
    },
  );
  const fastify = app.getHttpAdapter().getInstance();

  const routes = new RouteTable();
  fastify.addHook('onRoute', (route) => routes.add(route.method, route.url));

  // JSON only; an empty body is fine even with content-type application/json
  fastify.removeAllContentTypeParsers();
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: settings.api.bodyLimitBytes },
    (request, body, done) => {
      if (typeof body === 'string' && body.trim() === '') return done(null, undefined);
      void parseJson(request, body as string, done);
    },
  );

  // graceful shutdown: once closing, every response still being answered closes its connection, so
  // keep-alive clients cannot hold the server open (Fastify's keepAliveTimeout is 72 s)
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) void reply.header('connection', 'close');
    done(null, payload);
  });

  const latency = histogram(metrics, 'doubletap_api_request_duration_seconds', 'HTTP request latency', [
    'method',
    'route',
    'status',
  ]);
  const requestLog = logger.child({ component: 'http' });
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const method = request.method;
    const status = reply.statusCode;
    latency.observe({ method, route, status: String(status) }, reply.elapsedTime / 1000);
    // the request log line (built only when the level lets it through)
    if (
      route !== '/metrics' &&
      route !== '/health' &&
      route !== '/ready' &&
      requestLog.isLevelEnabled('info')
    ) {
      requestLog.info(
        {
          method,
          path: request.url.split('?')[0],
          route,
          status,
          ms: Math.round(reply.elapsedTime * 100) / 100,
          user: request.viewer?.userId,
        },
        'request',
      );
    }
    done();
  });

  app.useGlobalFilters(new ProblemFilter(logger, routes, settings.api.bodyLimitBytes));

  setupDocs(app);
  return { app, logger };
}
