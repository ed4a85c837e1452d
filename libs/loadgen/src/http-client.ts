import { Agent, request } from 'node:http';

export interface HttpAnswer {
  /** HTTP status, or 0 when no answer came (timeout, connection error) */
  status: number;
  body: string;
  error?: 'timeout' | 'network';
}

/** Only loopback targets: a load generator must not be pointed at someone else's server. */
export function assertLoopback(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--url ${url} is not a URL`);
  }
  if (u.protocol !== 'http:') throw new Error(`--url ${url}: only http:// on loopback is supported`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
  if (!loopback) throw new Error(`--url ${url} is not a loopback address (127.0.0.0/8, ::1, localhost): refusing to load it`);
  return u;
}

/**
 * Keep-alive HTTP/1.1 over a bounded pool of connections (node:http Agent). Requests beyond the pool
 * wait in the agent's queue; that wait is part of their latency, as it is for a real client.
 */
export class HttpClient {
  readonly agent: Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    base: URL,
    connections: number,
    private readonly timeoutMs: number,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: 'fifo' });
    this.host = base.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(base.port || 80);
  }

  /** `onDispatch` is called when the request got its connection (left the client's queue). */
  send(method: string, path: string, headers: Record<string, string> = {}, onDispatch?: () => void): Promise<HttpAnswer> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (a: HttpAnswer) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(a);
      };
      const req = request(
        { host: this.host, port: this.port, method, path, headers, agent: this.agent },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => finish({ status: res.statusCode ?? 0, body }));
          res.on('error', () => finish({ status: 0, body, error: 'network' }));
        },
      );
      const timer = setTimeout(() => {
        finish({ status: 0, body: '', error: 'timeout' });
        req.destroy();
      }, this.timeoutMs);
      req.on('error', () => finish({ status: 0, body: '', error: 'network' }));
      if (onDispatch) req.once('socket', onDispatch);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
