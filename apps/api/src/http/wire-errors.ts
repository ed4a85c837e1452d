import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Problem, PROBLEM_CONTENT_TYPE, problemType, quote, titleFor } from './problem';
import type { ProblemSlug } from './problem-types';
import { MAX_URL_LENGTH } from './request-checks';

/**
 * The request line and headers together may take this many bytes (Node's default, set explicitly
 * so the 431 detail states the real limit).
 */
export const MAX_HEADER_BYTES = 16384;

/** A parse error from Node's HTTP parser (llhttp), as passed to the server's 'clientError'. */
export interface ClientError extends Error {
  code?: string;
  reason?: string;
  /** the bytes being parsed when it failed (a Buffer at run time, whatever the typings say) */
  rawPacket?: unknown;
}

interface WireProblem {
  status: number;
  slug: ProblemSlug;
  detail: string;
}

/**
 * What to answer a request Node's HTTP parser refused before any request object existed (so
 * before Fastify, Nest and their error handling): undefined when there is no one to answer (the
 * peer reset the connection).
 */
export function clientErrorProblem(err: ClientError): WireProblem | undefined {
  const code = err.code ?? '';
  const reason = err.reason ?? err.message;
  switch (code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        slug: 'request-timeout',
        detail: 'the request did not arrive completely in time',
      };
    case 'HPE_HEADER_OVERFLOW':
      return requestLineTooLong(err.rawPacket)
        ? {
            status: 414,
            slug: 'uri-too-long',
            detail: `the request target is longer than ${MAX_URL_LENGTH} characters`,
          }
        : {
            status: 431,
            slug: 'headers-too-large',
            detail: `the request line and headers together exceed ${MAX_HEADER_BYTES} bytes`,
          };
    case 'HPE_INVALID_METHOD':
      return {
        status: 400,
        slug: 'invalid-method',
        detail: `the request method is not a known HTTP method (${reason})`,
      };
    case 'HPE_INVALID_URL':
      return {
        status: 400,
        slug: 'invalid-target',
        detail: `the request target has a character that must be percent-encoded (control characters, spaces and non-ASCII bytes) (${reason})`,
      };
    case 'HPE_INVALID_HEADER_TOKEN':
      return {
        status: 400,
        slug: 'invalid-header',
        detail: `a header name or value has a character that is not allowed (${reason})`,
      };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return {
        status: 400,
        slug: 'invalid-content-length',
        detail: `the body length is ambiguous or invalid (${reason})`,
      };
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return {
        status: 400,
        slug: 'invalid-transfer-encoding',
        detail: `the Transfer-Encoding is invalid or ambiguous (${reason})`,
      };
    case 'HPE_INVALID_CHUNK_SIZE':
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 400, slug: 'invalid-chunk', detail: `the chunked body is malformed (${reason})` };
    case 'HPE_PAUSED_H2_UPGRADE':
      return {
        status: 400,
        slug: 'http2-not-supported',
        detail: 'HTTP/2 with prior knowledge (the PRI preface) is not supported; send HTTP/1.1',
      };
    case 'HPE_INVALID_EOF_STATE':
      return {
        status: 400,
        slug: 'incomplete-request',
        detail:
          'the client ended the connection before the request was complete (a body shorter than its Content-Length?)',
      };
    default:
      return {
        status: 400,
        slug: 'malformed-request',
        detail: `the request is not valid HTTP/1.1 (${code ? `${code}: ` : ''}${reason})`,
      };
  }
}

/**
 * Node counts the request line against the header limit, so a very long target is reported as a
 * header overflow. When the packet that overflowed starts with a method and has no line end within
 * the URL limit, it was the target that was too long (a 414, not a 431). A target split across
 * several packets cannot be told apart and stays a 431.
 */
function requestLineTooLong(packet: unknown): boolean {
  if (!Buffer.isBuffer(packet)) return false;
  const head = packet.subarray(0, MAX_URL_LENGTH + 32).toString('latin1');
  return /^[A-Z]{1,20} /.test(head) && head.length > MAX_URL_LENGTH && !head.includes('\n');
}

/** A complete HTTP/1.1 problem response that closes the connection, for writing on a raw socket. */
export function rawProblemResponse(problem: WireProblem, instance?: string): string {
  const body: Problem = {
    type: problemType(problem.slug),
    title: titleFor(problem.status),
    status: problem.status,
    detail: problem.detail,
    ...(instance === undefined ? {} : { instance }),
  };
  const json = JSON.stringify(body);
  return (
    `HTTP/1.1 ${problem.status} ${titleFor(problem.status)}\r\n` +
    `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(json)}\r\n` +
    'Connection: close\r\n\r\n' +
    json
  );
}

interface HttpSocket extends Duplex {
  /** node:http's response in progress on this connection, if any */
  _httpMessage?: { headersSent?: boolean };
}

/**
 * Fastify's clientErrorHandler: the same decisions Node's default makes (answer only when no
 * response is under way on the connection, then close), with a problem+json body instead of
 * Fastify's own JSON.
 */
export function answerClientError(err: Error, duplex: Duplex): void {
  const socket = duplex as HttpSocket;
  const problem = clientErrorProblem(err);
  if (!problem || socket.destroyed || !socket.writable || socket._httpMessage?.headersSent)
    return void socket.destroy();
  answerAndClose(socket, rawProblemResponse(problem));
}

/**
 * CONNECT (a proxy tunnel request): Node hands it to 'connect' listeners and, with none, drops the
 * connection without a word. This server is no proxy.
 */
export function refuseConnect(req: IncomingMessage, socket: Duplex): void {
  const problem: WireProblem = {
    status: 400,
    slug: 'connect-not-supported',
    detail: 'CONNECT is not supported: this server is not a proxy',
  };
  answerAndClose(socket, rawProblemResponse(problem, req.url));
}

/**
 * A lingering close: half-close after the answer, drop what the client still sends, and close when
 * it does (or after LINGER_MS). Closing at once while its bytes are unread (the rest of an
 * oversized header, say) makes the kernel reset the connection, which can discard the answer
 * before the client reads it.
 */
function answerAndClose(socket: Duplex, response: string): void {
  const close = () => socket.destroy();
  const timer = setTimeout(close, LINGER_MS).unref();
  socket.on('error', close);
  socket.once('end', close);
  socket.once('close', () => clearTimeout(timer));
  socket.end(response);
  socket.resume();
}

const LINGER_MS = 2000;

/** An Expect other than 100-continue: Node would answer a bare 417 with no body. */
export function refuseExpectation(req: IncomingMessage, res: ServerResponse): void {
  const body = JSON.stringify({
    type: problemType('expectation-failed'),
    title: titleFor(417),
    status: 417,
    detail: `Expect: ${quote(req.headers.expect)} is not supported (only 100-continue is)`,
  } satisfies Problem);
  res.writeHead(417, {
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
}
