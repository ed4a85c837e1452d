import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { buildJsonPost, buildRequest, buildRequestPrefix, type NoAnswer, PipelinedClient } from './pipelined-client';

interface Got {
  id: number;
  status: number;
  body: string;
  error?: NoAnswer;
}

/** A client whose answers are collected; `until(n)` waits for n of them. */
function collecting(url: string, connections: number, timeoutMs: number) {
  const got: Got[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const client = new PipelinedClient<number>(
    new URL(url),
    connections,
    timeoutMs,
    (id, status, body, error) => {
      got.push({ id, status, body, error });
      for (const w of waiters) if (got.length >= w.n) w.resolve();
    },
  );
  const until = (n: number) =>
    got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve }));
  return { client, got, until };
}

const listen = async <S extends Server | NetServer>(server: S): Promise<string> => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};
const closeServer = (server: Server | NetServer) =>
  new Promise<void>((r) => {
    (server as Server).closeAllConnections?.();
    server.close(() => r());
  });

describe('PipelinedClient', () => {
  let server: Server;
  let url: string;
  const seen: string[] = [];
  let hold: ServerResponse[] = [];

  beforeAll(async () => {
    server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      req.resume();
      const path = req.url ?? '';
      if (path.startsWith('/hold')) {
        hold.push(res);
        return;
      }
      if (path.startsWith('/chunked')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('hel');
        setTimeout(() => res.end('lo wörld'), 5);
        return;
      }
      if (path.startsWith('/close')) {
        res.writeHead(503, { connection: 'close', 'content-length': '2' });
        res.end('no');
        return;
      }
      if (path.startsWith('/empty')) {
        res.writeHead(204);
        res.end();
        return;
      }
      // later requests answered first by the application: the wire order must still hold
      const delay = Number(/delay=(\d+)/.exec(path)?.[1] ?? 0);
      setTimeout(() => {
        const body = JSON.stringify({ path });
        res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }, delay);
    });
    url = await listen(server);
  });
  afterAll(() => closeServer(server));
  beforeEach(() => {
    seen.length = 0;
    hold = [];
  });

  it('pipelines many requests over few connections and answers each one, in order per connection', async () => {
    const { client, got, until } = collecting(url, 2, 5000);
    const host = new URL(url).host;
    for (let i = 0; i < 200; i++)
      client.send(
        buildRequest('POST', `/r?i=${i}&delay=${(200 - i) % 7}`, host, { authorization: `Bearer t${i}` }),
        i,
      );
    expect(client.inFlight).toBe(200);
    expect(client.sent).toBe(200);
    await until(200);
    expect(client.inFlight).toBe(0);
    expect(got.map((g) => g.id).sort((a, b) => a - b)).toEqual([...Array(200).keys()]);
    for (const g of got) {
      expect(g).toMatchObject({ status: 202, error: undefined });
      expect(JSON.parse(g.body)).toEqual({ path: `/r?i=${g.id}&delay=${(200 - g.id) % 7}` });
    }
    expect(seen).toHaveLength(200);
    expect(seen).toContain('POST /r?i=7&delay=4 Bearer t7');
    client.close();
  });

  it('reads chunked bodies and bodiless answers', async () => {
    const { client, got, until } = collecting(url, 1, 5000);
    const host = new URL(url).host;
    client.send(buildRequest('GET', '/chunked', host), 1);
    client.send(buildRequest('GET', '/empty', host), 2);
    client.send(buildRequest('GET', '/chunked', host), 3);
    await until(3);
    expect(got).toEqual([
      { id: 1, status: 200, body: 'hello wörld', error: undefined },
      { id: 2, status: 204, body: '', error: undefined },
      { id: 3, status: 200, body: 'hello wörld', error: undefined },
    ]);
    client.close();
  });

  it('a request unanswered at its deadline times out with everything behind it on its connection; the next one gets a new connection', async () => {
    const { client, got, until } = collecting(url, 1, 100);
    const host = new URL(url).host;
    client.send(buildRequest('GET', '/hold', host), 1);
    client.send(buildRequest('GET', '/r', host), 2);
    await until(2);
    expect(got).toEqual([
      { id: 1, status: 0, body: '', error: 'timeout' },
      { id: 2, status: 0, body: '', error: 'timeout' },
    ]);
    expect(client.inFlight).toBe(0);
    client.send(buildRequest('GET', '/r', host), 3);
    await until(3);
    expect(got[2]).toMatchObject({ id: 3, status: 202 });
    client.close();
  });

  it('Connection: close ends the connection after that answer: what follows on it fails as network, later requests reconnect', async () => {
    const { client, got, until } = collecting(url, 1, 5000);
    const host = new URL(url).host;
    client.send(buildRequest('GET', '/r?delay=5', host), 1);
    client.send(buildRequest('GET', '/close', host), 2);
    client.send(buildRequest('GET', '/r', host), 3);
    await until(3);
    expect(got[0]).toMatchObject({ id: 1, status: 202 });
    expect(got[1]).toMatchObject({ id: 2, status: 503, body: 'no' });
    expect(got[2]).toEqual({ id: 3, status: 0, body: '', error: 'network' });
    client.send(buildRequest('GET', '/r', host), 4);
    await until(4);
    expect(got[3]).toMatchObject({ id: 4, status: 202 });
    client.close();
  });

  it('close() fails what is in flight; a refused connection fails as network', async () => {
    const a = collecting(url, 1, 5000);
    a.client.send(buildRequest('GET', '/hold', new URL(url).host), 1);
    await new Promise((r) => setTimeout(r, 20));
    a.client.close();
    expect(a.got).toEqual([{ id: 1, status: 0, body: '', error: 'network' }]);
    a.client.send('x', 2);
    expect(a.got[1]).toEqual({ id: 2, status: 0, body: '', error: 'network' });

    const probe = createNetServer();
    const dead = await listen(probe);
    await closeServer(probe);
    const b = collecting(dead, 1, 5000);
    b.client.send(buildRequest('GET', '/', new URL(dead).host), 1);
    await b.until(1);
    expect(b.got).toEqual([{ id: 1, status: 0, body: '', error: 'network' }]);
    b.client.close();
  });

  it('parses answers split at any byte, and fails a connection that answers garbage', async () => {
    const answers =
      'HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\nX-A: b\r\n\r\nfirst' +
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' +
      'HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n';
    const sockets: Socket[] = [];
    const raw = createNetServer((socket) => {
      sockets.push(socket);
      socket.once('data', () => {
        let i = 0;
        const drip = () => {
          if (i >= answers.length) return socket.write('garbage\r\n\r\n');
          socket.write(answers.slice(i, i + 7));
          i += 7;
          setImmediate(drip);
        };
        drip();
      });
    });
    const rawUrl = await listen(raw);
    const { client, got, until } = collecting(rawUrl, 1, 5000);
    for (let i = 1; i <= 4; i++) client.send(buildRequest('GET', '/', 'h'), i);
    await until(4);
    expect(got).toEqual([
      { id: 1, status: 202, body: 'first', error: undefined },
      { id: 2, status: 200, body: 'abcde', error: undefined },
      { id: 3, status: 503, body: '', error: undefined },
      { id: 4, status: 0, body: '', error: 'network' },
    ]);
    client.close();
    for (const s of sockets) s.destroy();
    await closeServer(raw);
  });
});

describe('buildRequest', () => {
  it('is the request line, Host, Content-Length 0 and the headers, ready to be written', () => {
    expect(buildRequest('POST', '/v1/posts/p/likes', '127.0.0.1:8080', { authorization: 'Bearer x' })).toBe(
      'POST /v1/posts/p/likes HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-length: 0\r\nauthorization: Bearer x\r\n\r\n',
    );
    expect(`${buildRequestPrefix('DELETE', '/a', 'h')}authorization: Bearer y\r\n\r\n`).toBe(
      'DELETE /a HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\nauthorization: Bearer y\r\n\r\n',
    );
  });

  it('builds a JSON POST whose Content-Length counts what a latin1 write sends (any non-ASCII character escaped)', () => {
    const json = JSON.stringify({ q: ['a', 'é', '😀'] });
    const text = buildJsonPost('/q', 'h:1', json);
    const [head, body] = text.split('\r\n\r\n');
    expect(head).toBe(`POST /q HTTP/1.1\r\nhost: h:1\r\ncontent-length: ${body.length}\r\ncontent-type: application/json`);
    expect(body).toMatch(/^[\x00-\x7f]*$/);
    expect(Buffer.byteLength(body, 'latin1')).toBe(body.length);
    expect(JSON.parse(body)).toEqual({ q: ['a', 'é', '😀'] });
  });

  it('refuses what would split the request', () => {
    expect(() => buildRequest('POST', '/a b', 'h')).toThrow(/not a request line/);
    expect(() => buildRequest('POST', '/a', 'h', { x: 'a\r\nevil: 1' })).toThrow(/invalid header/);
    expect(() => buildRequest('POST', '/a', 'h', { 'x y': '1' })).toThrow(/invalid header/);
  });
});
