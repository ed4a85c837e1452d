import {
  classifyRegistryFailure,
  RegistryHttpError,
  UnusableAnswerError,
  type RegistryFailure,
} from '@doubletap/events';

/** node's fetch (undici) hides the network code in `cause`: TypeError('fetch failed', { cause }) */
const fetchFailed = (code: string, message = `connect ${code} 127.0.0.1:18081`) =>
  new TypeError('fetch failed', { cause: Object.assign(new Error(message), { code }) });
const http = (status: number) => new RegistryHttpError(status, undefined, 'GET /schemas/ids/7', '');
/** the registry library's error (mappersmith): connection failures and its timeout come as status 400 */
const libraryError = (status: number, message: string) =>
  Object.assign(new Error(`doubletap - ${message}`), { name: 'ResponseError', status });

describe('classifyRegistryFailure: what a failed schema lookup says about the id', () => {
  const table: Array<[string, unknown, RegistryFailure]> = [
    [
      '404 with error_code 40403',
      new RegistryHttpError(404, 40403, 'GET /schemas/ids/7', '{"error_code":40403}'),
      'not-found',
    ],
    ['404 without a registry body (a proxy)', http(404), 'not-found'],
    ['the library reporting a 404', libraryError(404, 'Schema 7 not found.'), 'not-found'],
    ...[
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'ENOTFOUND',
      'EAI_AGAIN',
      'EHOSTUNREACH',
      'ENETUNREACH',
      'EPIPE',
      'ECONNABORTED',
      'UND_ERR_SOCKET',
      'UND_ERR_CONNECT_TIMEOUT',
      'UND_ERR_HEADERS_TIMEOUT',
      'UND_ERR_BODY_TIMEOUT',
      'SOME_CODE_NOBODY_LISTED',
    ].map((code): [string, unknown, RegistryFailure] => [
      `fetch failed (${code})`,
      fetchFailed(code),
      'unavailable',
    ]),
    [
      'a bare network error with a code',
      Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }),
      'unavailable',
    ],
    ['socket hang up', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), 'unavailable'],
    ['fetch failed without a cause', new TypeError('fetch failed'), 'unavailable'],
    [
      'our request timeout',
      new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      'unavailable',
    ],
    ['an abort', new DOMException('This operation was aborted', 'AbortError'), 'unavailable'],
    ['the mappersmith timeout', libraryError(400, 'Timeout (3000ms)'), 'unavailable'],
    [
      'the library reporting ECONNREFUSED',
      libraryError(400, 'connect ECONNREFUSED 127.0.0.1:18081'),
      'unavailable',
    ],
    ...[400, 401, 403, 405, 408, 409, 410, 422, 429, 500, 501, 502, 503, 504, 301, 302, 204].map(
      (status): [string, unknown, RegistryFailure] => [`HTTP ${status}`, http(status), 'unavailable'],
    ),
    ['the library reporting a 503', libraryError(503, 'Error, status 503'), 'unavailable'],
    [
      'a 200 that is not JSON',
      new UnusableAnswerError('GET /schemas/ids/7', 'not JSON: <html>'),
      'unavailable',
    ],
    [
      'a 200 without a schema',
      new UnusableAnswerError('GET /schemas/ids/7', 'no "schema" string'),
      'unavailable',
    ],
    ['any other error', new Error('boom'), 'unavailable'],
    ['a thrown string', 'boom', 'unavailable'],
    ['a thrown null', null, 'unavailable'],
    ['a thrown undefined', undefined, 'unavailable'],
    ['a plain object that looks like a 404 (not an answer we got)', { status: 404 }, 'unavailable'],
  ];

  it.each(table)('%s -> %s', (_what, error, expected) => {
    expect(classifyRegistryFailure(error)).toBe(expected);
  });

  it('has exactly one kind of not-found: a 404', () => {
    expect(
      table
        .filter(([, , c]) => c === 'not-found')
        .every(([, e]) => (e as { status?: number }).status === 404),
    ).toBe(true);
  });
});
