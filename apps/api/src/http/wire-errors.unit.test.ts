import { type ClientError, clientErrorProblem, rawProblemResponse } from './wire-errors';

const err = (code: string, reason = 'why', rawPacket?: Buffer): ClientError =>
  Object.assign(new Error(`Parse Error: ${reason}`), { code, reason, rawPacket });

describe("clientErrorProblem: what Node's parser refuses, answered precisely", () => {
  it('431 for oversized headers; 414 when the packet shows the request target itself was too long', () => {
    const headers = Buffer.from(`GET /x HTTP/1.1\r\nX-Big: ${'a'.repeat(20000)}`);
    expect(clientErrorProblem(err('HPE_HEADER_OVERFLOW', 'Header overflow', headers))).toMatchObject({
      status: 431,
      detail: 'the request line and headers together exceed 16384 bytes',
    });
    const target = Buffer.from(`GET /v1/likes?posts=${'a'.repeat(20000)}`);
    expect(clientErrorProblem(err('HPE_HEADER_OVERFLOW', 'Header overflow', target))).toMatchObject({
      status: 414,
      detail: 'the request target is longer than 8192 characters',
    });
    // a later packet of a split request cannot be attributed: 431
    const middle = Buffer.from('a'.repeat(20000));
    expect(clientErrorProblem(err('HPE_HEADER_OVERFLOW', 'Header overflow', middle))?.status).toBe(431);
    expect(clientErrorProblem(err('HPE_HEADER_OVERFLOW'))?.status).toBe(431);
  });

  it('400 with the parser reason for malformed requests, 408 for a timeout, nothing for a reset', () => {
    expect(clientErrorProblem(err('HPE_INVALID_METHOD', 'Invalid method encountered'))).toEqual({
      status: 400,
      slug: 'invalid-method',
      detail: 'the request method is not a known HTTP method (Invalid method encountered)',
    });
    expect(clientErrorProblem(err('HPE_UNEXPECTED_CONTENT_LENGTH', 'Duplicate Content-Length'))?.detail).toBe(
      'the body length is ambiguous or invalid (Duplicate Content-Length)',
    );
    expect(clientErrorProblem(err('HPE_SOMETHING_NEW', 'odd'))?.detail).toBe(
      'the request is not valid HTTP/1.1 (HPE_SOMETHING_NEW: odd)',
    );
    expect(clientErrorProblem(err('ERR_HTTP_REQUEST_TIMEOUT'))?.status).toBe(408);
    expect(clientErrorProblem(err('ECONNRESET'))).toBeUndefined();
  });

  it('rawProblemResponse is a complete HTTP/1.1 message that closes the connection', () => {
    const text = rawProblemResponse({ status: 431, slug: 'headers-too-large', detail: 'too big: ü' });
    const [head, body] = text.split('\r\n\r\n');
    expect(head.split('\r\n')).toEqual([
      'HTTP/1.1 431 Request Header Fields Too Large',
      'Content-Type: application/problem+json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
    ]);
    expect(JSON.parse(body)).toEqual({
      type: 'https://doubletap.dev/problems/headers-too-large',
      title: 'Request Header Fields Too Large',
      status: 431,
      detail: 'too big: ü',
    });
  });
});
