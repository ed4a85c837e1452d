import { connect } from 'node:net';

/** One HTTP/1.1 response as it came off the wire (the first one on the connection). */
export interface RawResponse {
  status: number;
  /** header names lower-cased; a repeated header keeps its last value */
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawRequestOptions {
  /** half-close the socket after writing (for bodies shorter than their Content-Length) */
  endAfterWrite?: boolean;
  /** give up after this long without a complete response */
  timeoutMs?: number;
}

/**
 * Sends bytes exactly as given on a fresh TCP connection and parses the first response. fetch and
 * undici normalize what they send (dot segments, percent-encodings, header syntax, methods), so
 * requests that are malformed on purpose go out this way. Resolves with the response, or rejects
 * when the server closed the connection without one (or nothing complete came within the timeout).
 */
export function rawRequest(
  port: number,
  bytes: Buffer | string,
  options: RawRequestOptions = {},
): Promise<RawResponse> {
  // a response to HEAD has headers only, whatever its Content-Length says
  const head =
    (typeof bytes === 'string' ? bytes.slice(0, 5) : bytes.subarray(0, 5).toString('latin1')) === 'HEAD ';
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let settled = false;
    const finish = (error?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const buffer = Buffer.concat(chunks);
      const parsed = parseResponse(buffer, { closed: true, head });
      if (parsed) resolve(parsed);
      else
        reject(
          error ??
            new Error(
              `connection closed without a complete response (${buffer.length} bytes: ${JSON.stringify(buffer.subarray(0, 200).toString('latin1'))})`,
            ),
        );
    };
    const timer = setTimeout(
      () => finish(new Error(`no complete response within ${options.timeoutMs ?? 10_000} ms`)),
      options.timeoutMs ?? 10_000,
    );
    socket.on('connect', () => {
      socket.write(bytes);
      if (options.endAfterWrite) socket.end();
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (parseResponse(Buffer.concat(chunks), { head })) finish();
    });
    // a reset after the response was written still leaves the response readable
    socket.on('error', (e) => finish(e));
    socket.on('close', () => finish());
  });
}

/**
 * The first complete response in `buffer` (Content-Length or chunked body, or the rest of the
 * stream when the connection is `closed`; none for a `head` request), or undefined.
 */
export function parseResponse(
  buffer: Buffer,
  { closed = false, head = false }: { closed?: boolean; head?: boolean } = {},
): RawResponse | undefined {
  const end = buffer.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buffer.subarray(0, end).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!statusLine) return undefined;
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = buffer.subarray(end + 4);
  const status = Number(statusLine[1]);
  // an interim response (100 Continue to an Expect) comes before the real one
  if (status >= 100 && status < 200 && status !== 101) return parseResponse(rest, { closed, head });
  if (head) return { status, headers, body: Buffer.alloc(0) };
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length < length) return undefined;
    return { status, headers, body: rest.subarray(0, length) };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const body = dechunk(rest);
    return body ? { status, headers, body } : undefined;
  }
  // no framing: 1xx/204/304 have no body; otherwise the body runs to the close (parsed on close)
  if (status < 200 || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
  return closed ? { status, headers, body: rest } : undefined;
}

function dechunk(data: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (Number.isNaN(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    if (data.length < eol + 2 + size + 2) return undefined;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** A request message from parts; `headers` go out verbatim, in order (duplicates allowed). */
export function requestBytes(
  method: string,
  target: string,
  headers: [string, string][],
  body: Buffer | string = '',
): Buffer {
  const head = [`${method} ${target} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`), '', ''].join(
    '\r\n',
  );
  return Buffer.concat([Buffer.from(head, 'latin1'), typeof body === 'string' ? Buffer.from(body) : body]);
}
