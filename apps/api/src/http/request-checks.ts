import { ProblemException, quote } from './problem';

/**
 * The longest request target (path and query) the api takes. A batch read of 100 posts with
 * 64-character ids is about 6.5 KB, so 8 KiB leaves room and nothing real comes near it.
 * Node itself only caps the request line and headers together (maxHeaderSize, 16 KiB).
 */
export const MAX_URL_LENGTH = 8192;

/** Headers that must appear at most once: Node keeps the first of several and drops the rest in silence. */
const SINGLETON_HEADERS = new Map([
  ['authorization', 'Authorization'],
  ['content-type', 'Content-Type'],
  ['content-length', 'Content-Length'],
  ['host', 'Host'],
]);

/** What checkRequest looks at (a subset of node:http's IncomingMessage). */
export interface RawRequestLine {
  url?: string;
  httpVersion: string;
  rawHeaders: string[];
}

/**
 * Checks on the raw request that neither Node nor Fastify make with a precise answer, run before
 * routing decides anything: the target length (414), headers that must be single (400: with two
 * Authorization headers Node would silently use the first), a Host header on HTTP/1.1 (400), and
 * the percent-encoding of the path and the query string (400; Fastify's query parser leaves a
 * broken escape as it is, and its router reports one in the path only for methods it has routes
 * for, as FST_ERR_BAD_URL: see frameworkErrorProblem).
 */
export function checkRequest(req: RawRequestLine): ProblemException | undefined {
  const url = req.url ?? '';
  if (url.length > MAX_URL_LENGTH)
    return new ProblemException(
      414,
      'uri-too-long',
      `the request target is ${url.length} characters long; the limit is ${MAX_URL_LENGTH}`,
    );
  const counts = new Map<string, number>();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (SINGLETON_HEADERS.has(name)) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  for (const [name, count] of counts)
    if (count > 1)
      return new ProblemException(
        400,
        'duplicate-header',
        `the request has ${count} ${SINGLETON_HEADERS.get(name)} headers; send exactly one`,
      );
  if (req.httpVersion === '1.1' && !counts.has('host'))
    return new ProblemException(400, 'missing-host', 'an HTTP/1.1 request needs a Host header');
  const q = url.indexOf('?');
  // the router refuses a malformed path only for methods it has routes for; checked here, the
  // answer is the same 400 for every method (not a 404 or 405 that depends on it)
  const badPath = malformedEscape(q >= 0 ? url.slice(0, q) : url);
  if (badPath)
    return new ProblemException(400, 'malformed-path', `the path has malformed percent-encoding: ${badPath}`);
  if (q >= 0) {
    for (const part of url.slice(q + 1).split('&')) {
      const bad = malformedEscape(part);
      if (bad)
        return new ProblemException(
          400,
          'malformed-query',
          `the query string has malformed percent-encoding in ${quote(part)}: ${bad}`,
        );
    }
  }
  return undefined;
}

/**
 * Why `text` is not valid percent-encoding (a % not followed by two hex digits, or escapes that do
 * not decode to UTF-8), naming the first offending piece; undefined when it decodes.
 */
export function malformedEscape(text: string): string | undefined {
  // a run of escapes is decoded together: one UTF-8 character takes up to four
  const run = /(?:%[0-9A-Fa-f]{2})+/y;
  for (let i = text.indexOf('%'); i >= 0; i = text.indexOf('%', i)) {
    run.lastIndex = i;
    const escapes = run.exec(text)?.[0];
    if (escapes === undefined)
      return `${quote(text.slice(i, i + 3))} is not a %XX escape (% must be followed by two hex digits)`;
    try {
      decodeURIComponent(escapes);
    } catch {
      return `${quote(escapes, 40)} does not decode to UTF-8`;
    }
    i += escapes.length;
  }
  return undefined;
}
