import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface JsonResponse {
  status: number;
  /** the parsed body of a 200 (undefined for other statuses, whose bodies are discarded) */
  body?: unknown;
}

/** A failure below HTTP (connection refused or reset, aborted, unparseable body); `code` from Node. */
export class HttpJsonError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    /** the request went out on a kept-alive connection that had served requests before */
    readonly reusedSocket = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpJsonError';
  }
}

/**
 * JSON over HTTP/1.1 on keep-alive connections (one pool per origin, up to `maxSockets` each): the
 * api's interactive queries go to a handful of aggregators at high rates, and a TCP (and Fastify
 * connection) set-up per question cost more than the question. A request that fails with a reset on
 * a REUSED connection (the server closed it while idle as we sent) is sent once more on a new one.
 */
export class JsonHttpClient {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;

  constructor(options: { maxSockets?: number } = {}) {
    const agent = { keepAlive: true, maxSockets: options.maxSockets ?? 16, scheduling: 'lifo' as const };
    this.http = new HttpAgent(agent);
    this.https = new HttpsAgent(agent);
  }

  async send(
    url: string,
    init: { method: 'GET' | 'POST'; body?: unknown; signal: AbortSignal },
  ): Promise<JsonResponse> {
    try {
      return await this.once(url, init);
    } catch (e) {
      if (e instanceof HttpJsonError && e.code === 'ECONNRESET' && e.reusedSocket && !init.signal.aborted) {
        return this.once(url, init);
      }
      throw e;
    }
  }

  /** Closes idle connections; requests in flight finish. */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }

  private once(
    url: string,
    init: { method: 'GET' | 'POST'; body?: unknown; signal: AbortSignal },
  ): Promise<JsonResponse> {
    const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
    const secure = url.startsWith('https:');
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(payload);
    }
    return new Promise<JsonResponse>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method: init.method,
        headers,
        agent: secure ? this.https : this.http,
        signal: init.signal,
      });
      const fail = (err: Error & { code?: string }) =>
        reject(new HttpJsonError(err.message, err.code, req.reusedSocket, { cause: err }));
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          res.resume(); // drain, so the connection goes back to the pool
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
          res.on('error', fail);
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('end', () => {
          try {
            resolve({ status: 200, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown });
          } catch (err) {
            reject(new HttpJsonError(`unparseable body: ${(err as Error).message}`, 'EBADBODY'));
          }
        });
      });
      req.end(payload);
    });
  }
}
