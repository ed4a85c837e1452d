/** The base of every problem type URI (RFC 9457 `type`): the catalogue's slug follows it. */
export const PROBLEM_TYPE_BASE = 'https://doubletap.dev/problems/';

/**
 * Every problem type doubletap answers with: `https://doubletap.dev/problems/<slug>`. This list is
 * the one catalogue (a slug that is not here does not compile); each entry says when it is used.
 * The api answers all of them; the load balancer's refusals reuse `overloaded` and `unavailable`,
 * and the load generator reads `overloaded` as a definite refusal.
 */
export const PROBLEM_TYPES = {
  // the request as such (Node's parser, the raw checks, Fastify's router)
  'bad-request': 'the request could not be read or routed',
  'client-error': 'another 4xx raised by the framework',
  'connect-not-supported': 'CONNECT: the api is no proxy',
  'duplicate-header': 'a header that must appear once appears several times',
  'expectation-failed': 'an Expect header other than 100-continue',
  'headers-too-large': 'request line and headers over 16 KiB',
  'http2-not-supported': 'an HTTP/2 preface on the HTTP/1.1 port',
  'incomplete-request': 'the request ended before it was complete',
  'invalid-chunk': 'a malformed chunked body',
  'invalid-content-length': 'a Content-Length that is not a number, or conflicting lengths',
  'invalid-header': 'a header with invalid syntax',
  'invalid-method': 'a method token Node does not parse',
  'invalid-target': 'a request target Node does not parse',
  'invalid-transfer-encoding': 'a Transfer-Encoding Node does not accept',
  'malformed-path': 'malformed percent-encoding in the path',
  'malformed-query': 'malformed percent-encoding in the query string',
  'malformed-request': 'anything else Node cannot parse',
  'method-not-allowed': 'a known path with another method (405 with Allow)',
  'missing-host': 'HTTP/1.1 without Host',
  'not-found': 'no route for the path',
  'request-timeout': 'the request took too long to arrive',
  'uri-too-long': 'a request target over 8 KiB',
  // the body
  'body-too-large': 'a body over API_BODY_LIMIT_BYTES',
  'forbidden-json-key': 'a __proto__ or constructor.prototype key in JSON',
  'malformed-json': 'a body that is not JSON',
  'unexpected-body': 'a like/unlike body that is not empty or {}',
  'unexpected-field': 'a like/unlike body with fields',
  'unsupported-media-type': 'a body that is not application/json',
  // the routes
  'invalid-id': 'a post or user id that does not match ID_PATTERN (IdPipe)',
  'malformed-posts': 'an empty entry in ?posts=',
  'missing-posts': 'GET /v1/likes without ?posts=',
  'too-many-posts': 'more than 100 entries in ?posts=',
  'unknown-parameter': 'a query parameter GET /v1/likes does not take',
  unauthorized: 'a missing or rejected bearer token',
  'rate-limited': 'the viewer exceeded RATE_LIMIT_PER_SEC (429 with Retry-After)',
  // the dependencies
  overloaded:
    'past capacity: a like or unlike refused before anything was written, so a retry is safe (503 with Retry-After; `reason` names the signal)',
  'read-side-healing': 'the read model is being restored after a loss (503 with Retry-After)',
  unavailable: 'Kafka, the registry or Redis cannot answer, or shutting down (503 with Retry-After)',
  'server-error': 'a bug (500, logged; never for bad input)',
} as const;

export type ProblemSlug = keyof typeof PROBLEM_TYPES;

/** The `type` URI of a problem. */
export const problemType = (slug: ProblemSlug): string => `${PROBLEM_TYPE_BASE}${slug}`;
