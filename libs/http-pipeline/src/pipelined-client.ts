import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Why a request got no HTTP answer: its deadline passed, or its connection failed or closed. */
export type NoAnswer = 'timeout' | 'network';

/**
 * Called once per request: the HTTP status and body, or status 0 and why there was none. `ctx` is
 * what send() was given, so the caller needs no closure per request.
 */
export type AnswerHandler<T> = (ctx: T, status: number, body: string, error: NoAnswer | undefined) => void;

interface Entry<T> {
  ctx: T;
  /** performance.now() after which the request counts as timed out */
  deadline: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
/** "HTTP/1.x " */
const STATUS_AT = 9;

/** One keep-alive connection: the requests written on it, answered in order (HTTP/1.1 pipelining). */
class Conn<T> {
  socket?: Socket;
  /** requests written and not answered yet, oldest first (entries before `head` are done) */
  queue: Array<Entry<T> | undefined> = [];
  head = 0;
  /** request bytes waiting for the next flush */
  out = '';
  /** bytes of an answer not complete yet */
  rest?: Buffer;
  /** why the socket is being destroyed by us (what its in-flight requests are answered) */
  failing?: NoAnswer;

  get pending(): number {
    return this.queue.length - this.head;
  }

  shift(): Entry<T> | undefined {
    const e = this.queue[this.head];
    this.queue[this.head++] = undefined;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return e;
  }
}

/**
 * An HTTP/1.1 client for one origin: `connections` raw keep-alive sockets, requests pipelined on
 * them (written at once, whatever is still unanswered on the connection) and answers parsed in
 * place. Built to cost its caller as little CPU per request as possible (the load generator, and the
 * api's questions to the aggregators, where node:http's ClientRequest, agent and streams cost about
 * a sixth of the api's CPU per likedByViewer read: ADR 0029):
 * - requests are pre-built strings (buildRequest): no header objects, no validation per request;
 * - every request written in one turn of the event loop goes out in one write per connection;
 * - no promise, stream, timer or closure per request: the answer goes to one handler with the
 *   caller's context object; deadlines are checked by one interval timer for all connections.
 *
 * Open loop: send() never waits for a connection, so a request leaves at the time it is sent; a
 * server that does not read is charged for it (the request waits in its socket). A new request
 * goes to the connection with the fewest unanswered requests.
 *
 * Failure: a request still unanswered at its deadline (`timeoutMs` after send) fails as 'timeout'
 * together with every request behind it on that connection (pipelined answers come in order, so
 * none of them can be answered any more), and the connection is replaced. A connection that fails
 * or closes fails its unanswered requests as 'network'. Neither tells whether the server acted on
 * the request. Only answers with Content-Length or chunked bodies are read (what Node's and
 * Fastify's servers send); anything else fails the connection.
 */
export class PipelinedClient<T> {
  private readonly conns: Array<Conn<T>>;
  private readonly host: string;
  private readonly port: number;
  private flushing = false;
  private readonly ticker: NodeJS.Timeout;
  private closed = false;
  private inFlightCount = 0;
  /** requests sent (answered or not) */
  sent = 0;

  constructor(
    base: URL,
    connections: number,
    private readonly timeoutMs: number,
    private readonly onAnswer: AnswerHandler<T>,
  ) {
    if (!(connections >= 1)) throw new Error(`connections must be at least 1 (got ${connections})`);
    this.host = base.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(base.port || 80);
    this.conns = Array.from({ length: connections }, () => new Conn<T>());
    this.ticker = setInterval(() => this.expire(), Math.max(5, Math.min(100, timeoutMs / 10)));
    this.ticker.unref();
  }

  /** Requests sent and not answered yet. */
  get inFlight(): number {
    return this.inFlightCount;
  }

  /**
   * Sends one pre-built request (buildRequest); `onAnswer(ctx, …)` is called exactly once. The
   * request is written before the current turn of the event loop ends.
   */
  send(request: string, ctx: T): void {
    if (this.closed) {
      this.onAnswer(ctx, 0, '', 'network');
      return;
    }
    let conn = this.conns[0];
    let least = conn.pending;
    for (let i = 1; i < this.conns.length && least > 0; i++) {
      const c = this.conns[i];
      if (c.pending < least) {
        conn = c;
        least = c.pending;
      }
    }
    if (!conn.socket) this.open(conn);
    conn.queue.push({ ctx, deadline: performance.now() + this.timeoutMs });
    conn.out += request;
    this.inFlightCount++;
    this.sent++;
    if (!this.flushing) {
      this.flushing = true;
      queueMicrotask(this.flush);
    }
  }

  /** Fails what is unanswered ('network') and closes every connection. */
  close(): void {
    this.closed = true;
    clearInterval(this.ticker);
    for (const c of this.conns) this.fail(c, 'network');
  }

  private readonly flush = () => {
    this.flushing = false;
    for (const c of this.conns) {
      if (c.out.length === 0) continue;
      c.socket?.write(c.out, 'latin1');
      c.out = '';
    }
  };

  private open(conn: Conn<T>): void {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    conn.socket = socket;
    conn.rest = undefined;
    conn.failing = undefined;
    socket.on('data', (chunk: Buffer) => this.onData(conn, socket, chunk));
    socket.on('error', () => undefined); // 'close' follows and answers what was in flight
    socket.on('close', () => {
      if (conn.socket !== socket) return;
      conn.socket = undefined;
      conn.rest = undefined;
      const why = conn.failing ?? 'network';
      conn.failing = undefined;
      conn.out = '';
      this.answerAll(conn, why);
    });
  }

  /** Destroys the connection; its unanswered requests fail with `why`. */
  private fail(conn: Conn<T>, why: NoAnswer): void {
    const socket = conn.socket;
    conn.socket = undefined;
    conn.rest = undefined;
    conn.out = '';
    socket?.destroy();
    this.answerAll(conn, why);
  }

  private answerAll(conn: Conn<T>, why: NoAnswer): void {
    for (let e = conn.shift(); e; e = conn.shift()) {
      this.inFlightCount--;
      this.onAnswer(e.ctx, 0, '', why);
    }
  }

  private expire(): void {
    const now = performance.now();
    for (const c of this.conns) {
      const e = c.queue[c.head];
      if (e && e.deadline <= now) this.fail(c, 'timeout');
    }
  }

  private onData(conn: Conn<T>, socket: Socket, chunk: Buffer): void {
    const buf = conn.rest ? Buffer.concat([conn.rest, chunk]) : chunk;
    conn.rest = undefined;
    let pos = 0;
    while (pos < buf.length) {
      const end = buf.indexOf(CRLFCRLF, pos);
      if (end < 0) break;
      // status line "HTTP/1.1 202 Accepted"
      if (buf[pos] !== 0x48 /* H */ || end - pos < STATUS_AT + 3) return this.fail(conn, 'network');
      const status =
        (buf[pos + STATUS_AT] - 48) * 100 +
        (buf[pos + STATUS_AT + 1] - 48) * 10 +
        (buf[pos + STATUS_AT + 2] - 48);
      const head = readHead(buf, pos, end);
      if (head === undefined) return this.fail(conn, 'network');
      const bodyStart = end + 4;
      let bodyEnd: number;
      let body: string;
      if (head.contentLength >= 0) {
        bodyEnd = bodyStart + head.contentLength;
        if (bodyEnd > buf.length) break;
        body = head.contentLength === 0 ? '' : buf.toString('utf8', bodyStart, bodyEnd);
      } else if (head.chunked) {
        const chunked = readChunked(buf, bodyStart);
        if (chunked === 'bad') return this.fail(conn, 'network');
        if (chunked === undefined) break;
        bodyEnd = chunked.end;
        body = chunked.body;
      } else if (status === 204 || status === 304 || status < 200) {
        bodyEnd = bodyStart;
        body = '';
      } else {
        return this.fail(conn, 'network'); // a body delimited by the close: not what the api sends
      }
      pos = bodyEnd;
      if (status < 200) continue; // 1xx: the final answer follows
      const e = conn.shift();
      if (!e) return this.fail(conn, 'network'); // an answer nobody asked for
      this.inFlightCount--;
      this.onAnswer(e.ctx, status, body, undefined);
      if (conn.socket !== socket) return; // the handler closed the client
      if (head.close) {
        // nothing after this answer will be answered on this connection
        conn.failing = 'network';
        socket.end();
        return;
      }
    }
    if (pos < buf.length) conn.rest = pos === 0 ? buf : buf.subarray(pos);
  }
}

/** What an answer's head says about its body and its connection. */
interface Head {
  /** -1 when there is no Content-Length */
  contentLength: number;
  chunked: boolean;
  /** "Connection: close" */
  close: boolean;
}

const lower = (b: number): number => (b >= 0x41 && b <= 0x5a ? b | 0x20 : b);

/** Whether the header line at `at` is named `name` (lower case ASCII, with its colon), any case. */
function named(buf: Buffer, at: number, lineEnd: number, name: string): boolean {
  if (lineEnd - at < name.length) return false;
  for (let i = 0; i < name.length; i++) if (lower(buf[at + i]) !== name.charCodeAt(i)) return false;
  return true;
}

/** [a, b) of a header value without its surrounding blanks. */
function trimmed(buf: Buffer, from: number, lineEnd: number): [number, number] {
  let a = from;
  let b = lineEnd;
  while (a < b && (buf[a] === 0x20 || buf[a] === 0x09)) a++;
  while (b > a && (buf[b - 1] === 0x20 || buf[b - 1] === 0x09)) b--;
  return [a, b];
}

/** A header value that is a decimal number, or -1. */
function numberAt(buf: Buffer, from: number, lineEnd: number): number {
  const [a, b] = trimmed(buf, from, lineEnd);
  if (a === b) return -1;
  let n = 0;
  for (let i = a; i < b; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Whether a header value is `word` (lower case), any case. */
function valueIs(buf: Buffer, from: number, lineEnd: number, word: string): boolean {
  const [a, b] = trimmed(buf, from, lineEnd);
  return b - a === word.length && named(buf, a, b, word);
}

/**
 * Reads the header lines between the status line (at `from`) and the blank line (at `end`) in
 * place: no string of the whole head per answer. Undefined when a Content-Length is not a number.
 */
function readHead(buf: Buffer, from: number, end: number): Head | undefined {
  const head: Head = { contentLength: -1, chunked: false, close: false };
  let at = buf.indexOf(CRLF, from);
  while (at >= 0 && at < end) {
    const line = at + 2;
    let lineEnd = buf.indexOf(CRLF, line);
    if (lineEnd < 0 || lineEnd > end) lineEnd = end;
    const first = lower(buf[line]);
    if (first === 0x63 /* c */) {
      if (named(buf, line, lineEnd, 'content-length:')) {
        head.contentLength = numberAt(buf, line + 15, lineEnd);
        if (head.contentLength < 0) return undefined;
      } else if (named(buf, line, lineEnd, 'connection:')) head.close = valueIs(buf, line + 11, lineEnd, 'close');
    } else if (first === 0x74 /* t */ && named(buf, line, lineEnd, 'transfer-encoding:'))
      head.chunked = buf.toString('latin1', line + 18, lineEnd).toLowerCase().includes('chunked');
    at = lineEnd === end ? -1 : lineEnd;
  }
  return head;
}

/** A chunked body starting at `from`: its text and where it ends, undefined when incomplete. */
function readChunked(buf: Buffer, from: number): { body: string; end: number } | undefined | 'bad' {
  const parts: string[] = [];
  let pos = from;
  for (;;) {
    const eol = buf.indexOf(CRLF, pos);
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', pos, eol), 16);
    if (!(size >= 0)) return 'bad';
    if (size === 0) {
      // "0\r\n", trailers if any, then an empty line
      const end = buf.indexOf(CRLFCRLF, eol);
      return end < 0 ? undefined : { body: parts.join(''), end: end + 4 };
    }
    if (eol + 2 + size + 2 > buf.length) return undefined;
    parts.push(buf.toString('utf8', eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

/**
 * One HTTP/1.1 request as the text to write (ASCII): method, path, Host, the given headers, and
 * Content-Length 0 (the like and unlike endpoints take no body). Build once, send many times.
 */
export function buildRequest(
  method: string,
  path: string,
  host: string,
  headers: Record<string, string> = {},
): string {
  return `${buildRequestPrefix(method, path, host, headers)}\r\n`;
}

/**
 * A POST with a JSON body, as the text to write. The body is made pure ASCII (any other character
 * as a JSON \u escape, which means the same JSON), so its length in characters is its
 * Content-Length and the client's latin1 write sends it unchanged.
 */
export function buildJsonPost(path: string, host: string, json: string): string {
  const ascii = json.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const head = buildRequestPrefix('POST', path, host, { 'content-type': 'application/json' }).replace(
    'content-length: 0\r\n',
    `content-length: ${ascii.length}\r\n`,
  );
  return `${head}\r\n${ascii}`;
}

/**
 * The request up to its blank line: append one more header line ("name: value\r\n") and "\r\n" to
 * send it. For requests that differ in one header only (the bearer token of each synthetic user).
 */
export function buildRequestPrefix(
  method: string,
  path: string,
  host: string,
  headers: Record<string, string> = {},
): string {
  if (!/^[A-Z]+$/.test(method) || !/^\/[\x21-\x7e]*$/.test(path))
    throw new Error(`not a request line: ${method} ${path}`);
  let text = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-length: 0\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!/^[!#-'*+.0-9A-Z^-z|~-]+$/.test(name) || /[\r\n]/.test(value))
      throw new Error(`invalid header ${JSON.stringify(name)}`);
    text += `${name}: ${value}\r\n`;
  }
  return text;
}
