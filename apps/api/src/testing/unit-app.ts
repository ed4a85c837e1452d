import 'reflect-metadata';
import type { DynamicModule, Type } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test, type TestingModule } from '@nestjs/testing';
import type { LightMyRequestResponse } from 'fastify';
import { mintToken } from '@doubletap/auth';
import { loadSettings, type Settings } from '@doubletap/config';
import { createLogger, createMetricsRegistry, type Logger, type Registry } from '@doubletap/observability';
import { configureHttp, type HttpOptions } from '../app';
import { edgeServerOptions } from '../http/edge';
import { PlatformModule } from '../platform/platform.module';
import { LOGGER, METRICS } from '../platform/tokens';

/** What a unit test overrides: an injection token and the fake that stands in for it. */
export type Overrides = [token: symbol | Type, fake: unknown][];

export interface UnitApp {
  settings: Settings;
  app: NestFastifyApplication;
  /** a bearer token of the api's settings for this user */
  token(userId: string): Promise<string>;
  request(
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    init?: { token?: string; body?: string },
  ): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/**
 * Settings for unit tests: the defaults, quiet, and what `env` sets. Admission control's sampled
 * signals are off unless `env` sets them: the event loop they would measure is the test runner's.
 */
export const unitSettings = (env: Record<string, string> = {}): Settings =>
  loadSettings({ LOG_LEVEL: 'silent', ...IN_PROCESS_ADMISSION, ...env });

/** Admission control in an api that shares its process with a test runner: counted signals only. */
export const IN_PROCESS_ADMISSION: Record<string, string> = {
  ADMISSION_MAX_EVENT_LOOP_DELAY_MS: '0',
  ADMISSION_MAX_ELU_PERCENT: '0',
};

/**
 * One feature module of the api through Nest's testing module, without HTTP: the platform
 * (settings, logger, metrics, health) is real, the given tokens are replaced by their fakes.
 */
export async function compileUnit(
  feature: Type | DynamicModule,
  overrides: Overrides,
  settings = unitSettings(),
): Promise<TestingModule> {
  const logger = createLogger('api', 'silent');
  let builder = Test.createTestingModule({
    imports: [PlatformModule.register(settings, logger, createMetricsRegistry('api')), feature],
  });
  for (const [token, fake] of overrides) builder = builder.overrideProvider(token).useValue(fake);
  return builder.compile();
}

/**
 * One feature module of the api on Fastify (compileUnit, then the HTTP of the api itself:
 * problem+json filter, edge checks, JSON parser). Requests go through Fastify's inject: no port,
 * no Kafka, no Redis.
 */
export async function startUnitApp(
  feature: Type | DynamicModule,
  overrides: Overrides,
  env: Record<string, string> = {},
  http: HttpOptions = {},
): Promise<UnitApp> {
  const settings = unitSettings(env);
  const moduleRef = await compileUnit(feature, overrides, settings);
  const logger = moduleRef.get<Logger>(LOGGER);
  const metrics = moduleRef.get<Registry>(METRICS);
  const adapter = new FastifyAdapter({ bodyLimit: settings.api.bodyLimitBytes, ...edgeServerOptions() });
  const app = moduleRef.createNestApplication<NestFastifyApplication>(adapter, {
    logger: false,
    bodyParser: false,
  });
  configureHttp(app, settings, logger, metrics, http);
  await app.init();
  const fastify = app.getHttpAdapter().getInstance();
  await fastify.ready();
  const { hs256Secret, issuer, audience } = settings.auth;
  return {
    settings,
    app,
    token: (userId) => mintToken(hs256Secret, userId, { issuer, audience }),
    request: (method, url, init = {}) =>
      fastify.inject({
        method,
        url,
        headers: {
          ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
          ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        payload: init.body,
      }),
    close: () => app.close(),
  };
}
