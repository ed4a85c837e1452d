import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { JwtVerifier } from '@doubletap/auth';
import type { Settings } from '@doubletap/config';
import {
  createLogger,
  createMetricsRegistry,
  FastHistogram,
  LATENCY_BUCKETS_SECONDS,
  type Logger,
  NestPinoLogger,
  type Registry,
} from '@doubletap/observability';
import { AppModule } from './app.module';
import { AdmissionControl, installAdmission } from './http/admission';
import { setupDocs } from './http/docs';
import { edgeServerOptions, installEdge } from './http/edge';
import { installFastPaths } from './http/fast-path';
import { parseJsonBody } from './http/json-body';
import { ProblemFilter } from './http/problem.filter';
import { RouteTable } from './http/route-table';
import { LikesService } from './likes/likes.service';
import { installHotRead } from './reads/hot-read';
import { ReadSide } from './reads/read-side.service';

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
  const adapter = new FastifyAdapter({ bodyLimit: settings.api.bodyLimitBytes, ...edgeServerOptions() });
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.register(settings, logger, metrics),
    adapter,
    {
      logger: new NestPinoLogger(logger.child({ component: 'nest' })),
      bodyParser: false,
      abortOnError: false,
    },
  );
  configureHttp(app, settings, logger, metrics);
  setupDocs(app);
  return { app, logger };
}

function optional<T>(get: () => T): T | undefined {
  try {
    return get();
  } catch {
    return undefined;
  }
}

export interface HttpOptions {
  /** the anonymous GET of one post without Nest's pipeline (ADR 0015); off only to compare the two in tests */
  hotRead?: boolean;
  /**
   * likes, unlikes and the GET of one post with a known token without Nest's pipeline (ADR 0020);
   * off only to compare the two in tests
   */
  fastPaths?: boolean;
}

/**
 * The api's HTTP layer on an app built with edgeServerOptions (also the unit tests' apps): the
 * edge checks, admission control of writes, the JSON-only body parser, request metrics and logs,
 * the problem+json filter.
 */
export function configureHttp(
  app: NestFastifyApplication,
  settings: Settings,
  logger: Logger,
  metrics: Registry,
  { hotRead = true, fastPaths = true }: HttpOptions = {},
): void {
  const fastify = app.getHttpAdapter().getInstance();

  const routes = new RouteTable();
  fastify.addHook('onRoute', (route) => routes.add(route.method, route.url));

  installEdge(fastify);
  // likes and unlikes past capacity: 503 overloaded at once, in front of Fastify (an app without
  // the likes module has none; Fastify's inject() does not pass the server, so unit tests using it
  // are never refused)
  const admission = optional(() => app.get(AdmissionControl, { strict: false }));
  if (admission) installAdmission(fastify.server, admission);

  // JSON only; an empty body is fine even with content-type application/json
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: settings.api.bodyLimitBytes },
    (_request, body, done) => {
      try {
        done(null, parseJsonBody(body as string));
      } catch (e) {
        done(e as Error, undefined);
      }
    },
  );

  // on every request: FastHistogram, not prom-client's (its observe cost ~1.5 % of the api's CPU)
  const latency = new FastHistogram(
    metrics,
    'doubletap_api_request_duration_seconds',
    'HTTP request latency',
    ['method', 'route', 'status'],
    LATENCY_BUCKETS_SECONDS,
  );
  const requestLog = logger.child({ component: 'http' });
  fastify.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const method = request.method;
    const status = reply.statusCode;
    latency.labels(method, route, String(status))(reply.elapsedTime / 1000);
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

  const problems = new ProblemFilter(logger, routes, settings.api.bodyLimitBytes);
  app.useGlobalFilters(problems);
  // the anonymous GET of one post bypasses Nest's per-request pipeline (ADR 0015); an app
  // without the reads module has no such route
  const reads = hotRead ? optional(() => app.get(ReadSide, { strict: false })) : undefined;
  if (reads) installHotRead(fastify, reads, problems);
  // likes, unlikes and the viewer's GET of one post with a token verified before (ADR 0020);
  // installed after the hot read, so its wrapper runs first and hands the rest on
  const verifier = fastPaths ? optional(() => app.get(JwtVerifier, { strict: false })) : undefined;
  if (verifier) {
    const likes = optional(() => app.get(LikesService, { strict: false }));
    const viewerReads = optional(() => app.get(ReadSide, { strict: false }));
    if (likes || viewerReads) installFastPaths(fastify, { verifier, problems, likes, reads: viewerReads });
  }
}
