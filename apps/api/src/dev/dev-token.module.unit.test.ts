import 'reflect-metadata';
import { Global, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { JwtVerifier } from '@doubletap/auth';
import { DEV_JWT_SECRET, loadSettings, SETTINGS, type Settings } from '@doubletap/config';
import { DevTokenModule } from './dev-token.module';

/** Only the dev token module on Fastify (no Kafka, no Redis): is GET /dev/token registered? */
async function appWith(settings: Settings): Promise<NestFastifyApplication> {
  // global, as the api's platform module is: DevTokenController injects SETTINGS
  @Global()
  @Module({
    imports: [DevTokenModule.register(settings)],
    providers: [{ provide: SETTINGS, useValue: settings }],
    exports: [SETTINGS],
  })
  class Root {}
  const app = await NestFactory.create<NestFastifyApplication>(Root, new FastifyAdapter(), { logger: false });
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  return app;
}

async function get(app: NestFastifyApplication, url: string) {
  return app.getHttpAdapter().getInstance().inject({ method: 'GET', url });
}

const PRIVATE = 'a-private-secret-of-at-least-32-characters';

describe('GET /dev/token is registered only in development on loopback', () => {
  it('development (also NODE_ENV unset) on 127.0.0.1, ::1 or localhost: mints a token the api accepts', async () => {
    for (const env of [{}, { NODE_ENV: 'development', API_HOST: '::1' }, { API_HOST: 'localhost' }]) {
      const settings = loadSettings(env);
      const app = await appWith(settings);
      try {
        const res = await get(app, '/dev/token?user=dana');
        expect(res.statusCode).toBe(200);
        expect(res.headers['cache-control']).toBe('no-store');
        const body = res.json<{ userId: string; token: string; expiresInSeconds: number }>();
        expect(body).toMatchObject({ userId: 'dana', expiresInSeconds: 3600 });
        const viewer = await new JwtVerifier(settings.auth).verify(body.token);
        expect(viewer.userId).toBe('dana');
        expect(settings.auth.hs256Secret).toBe(DEV_JWT_SECRET);
      } finally {
        await app.close();
      }
    }
  });

  it('production, test, or any non-loopback address: no such route', async () => {
    const cases = [
      { NODE_ENV: 'production', JWT_SECRET: PRIVATE },
      { NODE_ENV: 'test' },
      { NODE_ENV: 'development', API_HOST: '0.0.0.0', JWT_SECRET: PRIVATE },
      { API_HOST: '::', JWT_SECRET: PRIVATE },
      { NODE_ENV: 'production', API_HOST: '127.0.0.1', JWT_SECRET: PRIVATE },
    ];
    for (const env of cases) {
      const app = await appWith(loadSettings(env));
      try {
        const fastify = app.getHttpAdapter().getInstance();
        expect({ env, registered: fastify.hasRoute({ method: 'GET', url: '/dev/token' }) }).toEqual({
          env,
          registered: false,
        });
        expect((await get(app, '/dev/token')).statusCode).toBe(404);
      } finally {
        await app.close();
      }
    }
  });
});
