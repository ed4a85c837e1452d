import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthRegistry, Registry } from '@doubletap/observability';

export interface OpsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/**
 * The projector's operational endpoints: GET /health (liveness), GET /ready (every readiness
 * check, 503 when one is down) and GET /metrics (Prometheus text).
 */
export async function startOpsServer(options: {
  host: string;
  port: number;
  health: HealthRegistry;
  metrics: Registry;
}): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      send(405, 'application/problem+json', JSON.stringify({ title: 'Method Not Allowed', status: 405, detail: `${req.method} is not supported` }));
      return;
    }
    const answer = async () => {
      switch (path) {
        case '/health':
          return send(200, 'application/json', JSON.stringify({ status: 'ok' }));
        case '/ready': {
          const report = await options.health.report();
          return send(report.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(report));
        }
        case '/metrics':
          return send(200, options.metrics.contentType, await options.metrics.metrics());
        default:
          return send(404, 'application/problem+json', JSON.stringify({ title: 'Not Found', status: 404, detail: `no route ${path}` }));
      }
    };
    answer().catch((e: unknown) =>
      send(500, 'application/problem+json', JSON.stringify({ title: 'Internal Server Error', status: 500, detail: String(e) })),
    );
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
