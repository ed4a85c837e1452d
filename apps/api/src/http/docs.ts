import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/**
 * OpenAPI at /docs/openapi.json and Swagger UI at /docs. @nestjs/swagger serves the UI assets for
 * Fastify through @fastify/static, which this project does not depend on, so the three assets are
 * served here from swagger-ui-dist.
 */
export function setupDocs(app: NestFastifyApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('doubletap api')
      .setDescription('Likes as immutable Kafka events. Errors are application/problem+json (RFC 9457).')
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { ui: false, jsonDocumentUrl: 'docs/openapi.json' });

  const dist = dirname(require.resolve('swagger-ui-dist/package.json'));
  const assets: Record<string, string> = {
    'swagger-ui.css': 'text/css; charset=utf-8',
    'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  };
  const fastify = app.getHttpAdapter().getInstance();
  for (const [file, type] of Object.entries(assets)) {
    let content: Buffer | undefined;
    fastify.get(`/docs/assets/${file}`, (_req, reply) => {
      content ??= readFileSync(join(dist, file));
      void reply.header('content-type', type).header('cache-control', 'public, max-age=86400').send(content);
    });
  }
  const page = `<!doctype html>
<html><head><meta charset="utf-8"><title>doubletap api</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#ui' });</script></body></html>`;
  fastify.get('/docs', (_req, reply) => {
    void reply.header('content-type', 'text/html; charset=utf-8').send(page);
  });
}
