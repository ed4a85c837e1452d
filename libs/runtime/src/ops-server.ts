import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isOpsPath, opsAnswer, problemAnswer, type OpsAnswer, type OpsDeps } from './ops';

export interface OpsServer {
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A process's operational endpoints on a port of their own (node:http, no framework): GET/HEAD
 * /health, /ready and /metrics as opsAnswer gives them; 405 with Allow for other methods, 404
 * problem for other paths, 500 problem when an answer fails.
 */
export async function startOpsServer(options: OpsDeps & { host: string; port: number }): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const send = (a: OpsAnswer) => {
      res.writeHead(a.status, a.headers);
      res.end(req.method === 'HEAD' ? undefined : a.body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(problemAnswer(405, 'Method Not Allowed', `${req.method} is not supported`, {}, { allow: 'GET, HEAD' }));
      return;
    }
    if (!isOpsPath(path)) {
      send(problemAnswer(404, 'Not Found', `no route ${path}`));
      return;
    }
    opsAnswer(path, options).then(send, (e: unknown) => send(problemAnswer(500, 'Internal Server Error', String(e))));
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
