import { createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { mintToken } from '@doubletap/auth';
import {
  type RunningApi,
  startApiOnFreshTopics,
  stopApiAndTopics,
  testKafka,
  topicSize,
  type Topics,
} from './helpers';
import { rawRequest, requestBytes } from './raw-http';

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
}

const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
const exp = () => Math.floor(Date.now() / 1000) + 600;

describe('bad input: problem+json, the right status and detail, nothing produced', () => {
  const kafka = testKafka();
  let topics: Topics;
  let api: RunningApi;
  let good: string;

  beforeAll(async () => {
    ({ topics, api } = await startApiOnFreshTopics(
      kafka,
      2,
      { RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: '2', API_BODY_LIMIT_BYTES: '256' },
      { ready: true },
    ));
    good = await api.token('alice');
  });
  afterAll(() => stopApiAndTopics(kafka, api, topics));

  async function call(
    method: string,
    path: string,
    init: { token?: string; authorization?: string; body?: string; type?: string } = {},
  ): Promise<{ status: number; headers: Headers; problem: Problem }> {
    const headers: Record<string, string> = {};
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.authorization) headers.authorization = init.authorization;
    if (init.type) headers['content-type'] = init.type;
    const res = await fetch(`${api.url}${path}`, { method, headers, body: init.body });
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await res.json()) as Problem;
    expect(problem.status).toBe(res.status);
    expect(problem.type).toMatch(/^https:\/\/doubletap\.dev\/problems\//);
    expect(typeof problem.title).toBe('string');
    return { status: res.status, headers: res.headers, problem };
  }

  it('413 for a body over the limit', async () => {
    const r = await call('POST', '/v1/posts/p1/likes', {
      token: good,
      type: 'application/json',
      body: JSON.stringify({ pad: 'x'.repeat(400) }),
    });
    expect(r.status).toBe(413);
    expect(r.problem.detail).toBe('the request body exceeds the limit of 256 bytes');
  });

  it('400 for an unexpected field, naming it', async () => {
    const r = await call('POST', '/v1/posts/p1/likes', {
      token: good,
      type: 'application/json',
      body: '{"userId":"mallory"}',
    });
    expect(r.status).toBe(400);
    expect(r.problem.detail).toMatch(/^unexpected field "userId"/);
    const d = await call('DELETE', '/v1/posts/p1/likes', {
      token: good,
      type: 'application/json',
      body: '{"a":1,"b":2}',
    });
    expect(d.status).toBe(400);
    expect(d.problem.detail).toMatch(/^unexpected field "a", "b"/);
  });

  it('400 for malformed JSON and for a body that is not an object; 415 for another media type', async () => {
    const bad = await call('POST', '/v1/posts/p1/likes', {
      token: good,
      type: 'application/json',
      body: '{"oops',
    });
    expect(bad.status).toBe(400);
    expect(bad.problem.detail).toMatch(/^invalid request: .*JSON/);
    const arr = await call('POST', '/v1/posts/p1/likes', {
      token: good,
      type: 'application/json',
      body: '[1]',
    });
    expect(arr.status).toBe(400);
    expect(arr.problem.detail).toBe('the request body must be empty or a JSON object with no fields');
    const text = await call('POST', '/v1/posts/p1/likes', { token: good, type: 'text/plain', body: 'like' });
    expect(text.status).toBe(415);
    expect(text.problem.detail).toMatch(/text\/plain.*send no body or application\/json/);
  });

  it('400 for an invalid postId', async () => {
    for (const id of ['bad!id', 'a'.repeat(65), 'with%20space']) {
      const r = await call('POST', `/v1/posts/${id}/likes`, { token: good });
      expect(r.status).toBe(400);
      expect(r.problem.detail).toMatch(/^postId ".*" does not match \/\^\[A-Za-z0-9_-\]\{1,64\}\$\/$/);
    }
  });

  it('401 for a missing, malformed, expired, forged, wrong-algorithm or bad-subject token', async () => {
    const secret = api.settings.auth.hs256Secret;
    const key = createSecretKey(Buffer.from(secret));
    const cases: [string, Record<string, string>, RegExp][] = [
      ['missing', {}, /^missing bearer token/],
      ['not bearer', { authorization: 'Basic YWxpY2U6cHc=' }, /must be 'Bearer <jwt>'/],
      ['not a jwt', { token: 'garbage' }, /^the bearer token is not a JWT$/],
      ['expired', { token: await mintToken(secret, 'alice', { ttlSeconds: -60 }) }, /^token expired$/],
      [
        'forged',
        { token: await mintToken('another-secret-another-secret-another', 'alice') },
        /^token signature is invalid$/,
      ],
      [
        'alg none',
        { token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'alice', exp: exp() })}.` },
        /^token algorithm none is not accepted \(accepted: HS256\)$/,
      ],
      [
        'HS512',
        {
          token: await new SignJWT({})
            .setProtectedHeader({ alg: 'HS512' })
            .setSubject('alice')
            .setExpirationTime(exp())
            .sign(key),
        },
        /^token algorithm HS512 is not accepted/,
      ],
      [
        'RS256 without a configured key',
        { token: `${b64({ alg: 'RS256' })}.${b64({ sub: 'alice', exp: exp() })}.c2ln` },
        /^token algorithm RS256 is not accepted/,
      ],
      [
        'no exp',
        { token: await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').sign(key) },
        /exp/,
      ],
      [
        'bad subject',
        {
          token: await new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject('alice bob')
            .setExpirationTime(exp())
            .sign(key),
        },
        /^token subject "alice bob" is not a valid user id/,
      ],
    ];
    for (const [name, init, detail] of cases) {
      const r = await call('POST', '/v1/posts/p1/likes', init);
      expect({ name, status: r.status }).toEqual({ name, status: 401 });
      expect({ name, detail: r.problem.detail }).toEqual({ name, detail: expect.stringMatching(detail) });
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/);
    }
  });

  it('404 for an unknown route, 405 with Allow for a wrong method', async () => {
    const nf = await call('GET', '/v2/nothing');
    expect(nf.status).toBe(404);
    expect(nf.problem.detail).toBe('no route for GET /v2/nothing');
    const na = await call('PUT', '/v1/posts/p1/likes', { token: good });
    expect(na.status).toBe(405);
    expect(na.headers.get('allow')).toBe('DELETE, GET, HEAD, POST');
    expect(na.problem.detail).toBe(
      'PUT is not allowed on /v1/posts/p1/likes (allowed: DELETE, GET, HEAD, POST)',
    );
  });

  it('429 with Retry-After once a user used up the burst; other users are unaffected', async () => {
    const bob = await api.token('bob');
    for (let i = 0; i < 2; i++) {
      const ok = await fetch(`${api.url}/v1/posts/p1/likes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bob}` },
      });
      expect(ok.status).toBe(202);
    }
    const r = await call('POST', '/v1/posts/p1/likes', { token: bob });
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.problem.detail).toMatch(
      /^user bob exceeded the rate limit of 1 actions per second \(burst 2\); retry in \d+s$/,
    );
    const carol = await fetch(`${api.url}/v1/posts/p1/likes`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${await api.token('carol')}` },
    });
    expect(carol.status).toBe(202);
  });

  // Regression cases for what the fuzz test (fuzz.int.test.ts) found: answers that Node and
  // Fastify give themselves (plain JSON or empty bodies, a dropped connection), 500s, and requests
  // that were accepted although ambiguous or malformed. Sent raw: fetch would normalize them.
  const port = () => Number(new URL(api.url).port);
  const base: [string, string][] = [
    ['Host', '127.0.0.1'],
    ['Connection', 'close'],
  ];

  async function raw(
    bytes: Buffer | string,
    status: number,
    detail: RegExp,
    options: { endAfterWrite?: boolean } = {},
  ): Promise<Record<string, string>> {
    const res = await rawRequest(port(), bytes, options);
    const problem = JSON.parse(res.body.toString('utf8')) as Problem;
    expect({ status: res.status, type: res.headers['content-type'], detail: problem.detail }).toEqual({
      status,
      type: 'application/problem+json',
      detail: expect.stringMatching(detail),
    });
    expect(problem.status).toBe(status);
    expect(problem.type).toMatch(/^https:\/\/doubletap\.dev\/problems\//);
    return res.headers;
  }

  it('edge: 400 for malformed percent-encoding in the path, for every method, and in the query', async () => {
    for (const method of ['GET', 'POST', 'PUT']) {
      await raw(
        requestBytes(method, '/v1/posts/%E0%A4%A/likes', [...base, ['Authorization', `Bearer ${good}`]]),
        400,
        /^the path has malformed percent-encoding: "%E0%A4" does not decode to UTF-8$/,
      );
    }
    await raw(
      requestBytes('GET', '/v1/likes?posts=%ZZ', base),
      400,
      /^the query string has malformed percent-encoding in "posts=%ZZ": "%ZZ" is not a %XX escape/,
    );
  });

  it('edge: 400 invalid-id for a long postId (Fastify answered 414 in plain JSON past 100 characters)', async () => {
    await raw(
      requestBytes('GET', `/v1/posts/${'a'.repeat(101)}/likes`, base),
      400,
      /^postId "a{101}" does not match/,
    );
  });

  it('edge: 414 for a target over 8 KiB, also past the 16 KiB header limit; 431 for oversized headers', async () => {
    await raw(
      requestBytes('GET', `/v1/likes?posts=${'a'.repeat(9000)}`, base),
      414,
      /^the request target is 9016 characters long; the limit is 8192$/,
    );
    await raw(
      requestBytes('GET', `/v1/likes?posts=${'a'.repeat(20000)}`, base),
      414,
      /^the request target is longer than 8192 characters$/,
    );
    await raw(
      requestBytes('GET', '/health', [...base, ['X-Big', 'a'.repeat(20000)]]),
      431,
      /^the request line and headers together exceed 16384 bytes$/,
    );
  });

  it("edge: 400 for what Node's HTTP parser refuses, with its reason", async () => {
    await raw(requestBytes('FOO', '/health', base), 400, /^the request method is not a known HTTP method/);
    await raw(
      requestBytes('GET', '/health', [...base, ['X-Bad', 'a\u0001b']]),
      400,
      /^a header name or value has a character that is not allowed/,
    );
    await raw(
      requestBytes(
        'POST',
        '/v1/posts/p1/likes',
        [...base, ['Content-Length', '2'], ['Transfer-Encoding', 'chunked']],
        '2\r\n{}\r\n0\r\n\r\n',
      ),
      400,
      /^the Transfer-Encoding is invalid or ambiguous/,
    );
    await raw(
      requestBytes(
        'POST',
        '/v1/posts/p1/likes',
        [
          ...base,
          ['Authorization', `Bearer ${good}`],
          ['Content-Type', 'application/json'],
          ['Content-Length', '10'],
        ],
        '{}',
      ),
      400,
      /^the client ended the connection before the request was complete/,
      { endAfterWrite: true },
    );
  });

  it('edge: 400 for an HTTP/1.1 request without Host, 417 for an unknown Expect, 400 for CONNECT', async () => {
    await raw(
      requestBytes('GET', '/health', [['Connection', 'close']]),
      400,
      /^an HTTP\/1\.1 request needs a Host header$/,
    );
    await raw(
      requestBytes('GET', '/health', [...base, ['Expect', 'teapot']]),
      417,
      /^Expect: "teapot" is not supported \(only 100-continue is\)$/,
    );
    await raw(
      requestBytes('CONNECT', 'example.com:443', base),
      400,
      /^CONNECT is not supported: this server is not a proxy$/,
    );
  });

  it('edge: 400 for two Authorization or two Content-Type headers (Node kept the first and dropped the rest)', async () => {
    const bob = await api.token('bob-dup');
    await raw(
      requestBytes('POST', '/v1/posts/p1/likes', [
        ...base,
        ['Authorization', `Bearer ${bob}`],
        ['Authorization', 'Bearer x'],
      ]),
      400,
      /^the request has 2 Authorization headers; send exactly one$/,
    );
    await raw(
      requestBytes(
        'POST',
        '/v1/posts/p1/likes',
        [
          ...base,
          ['Authorization', `Bearer ${bob}`],
          ['Content-Type', 'application/json'],
          ['Content-Type', 'text/plain'],
          ['Content-Length', '2'],
        ],
        '{}',
      ),
      400,
      /^the request has 2 Content-Type headers; send exactly one$/,
    );
  });

  it('edge: 404 for a known path with a trailing slash (was a 405 listing the very method used)', async () => {
    await raw(requestBytes('GET', '/health/', base), 404, /^no route for GET \/health\/$/);
    await raw(
      requestBytes('POST', '/v1/posts/p1/likes/', base),
      404,
      /^no route for POST \/v1\/posts\/p1\/likes\/$/,
    );
  });

  it('edge: 401, not 500, when the token holds characters a header cannot carry', async () => {
    const key = createSecretKey(Buffer.from(api.settings.auth.hs256Secret));
    const emoji = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('a\u{1F600}b')
      .setExpirationTime(exp())
      .sign(key);
    const crlfAlg = `${b64({ alg: 'x\r\n\u2603' })}.${b64({ sub: 'alice', exp: exp() })}.c2ln`;
    for (const [token, detail] of [
      [emoji, /^token subject "a\u{1F600}b" is not a valid user id/u],
      [crlfAlg, /^token algorithm "x\\r\\n\u2603" is not accepted/],
    ] as const) {
      const headers = await raw(
        requestBytes('GET', '/v1/posts/p1/likes', [...base, ['Authorization', `Bearer ${token}`]]),
        401,
        detail,
      );
      expect(headers['www-authenticate']).toMatch(
        /^Bearer error="invalid_token", error_description="[\x20-\x7e]+"$/,
      );
    }
  });

  it('edge: 401 for a token with characters after its signature (jose decoded them away and accepted it)', async () => {
    for (const extra of ['*', '=', '\u00e9']) {
      await raw(
        requestBytes('POST', '/v1/posts/p1/likes', [...base, ['Authorization', `Bearer ${good}${extra}`]]),
        401,
        /^the bearer token is not a JWT$/,
      );
    }
    await raw(
      requestBytes('GET', '/v1/posts/p1/likes', [...base, ['Authorization', `Bearer ${'a'.repeat(9000)}`]]),
      401,
      /^the bearer token is 9000 characters long; the limit is 8192$/,
    );
  });

  it('edge: 400 naming a __proto__ key (was "not valid JSON"); 415 for a body without a content type', async () => {
    await raw(
      requestBytes(
        'POST',
        '/v1/posts/p1/likes',
        [
          ...base,
          ['Authorization', `Bearer ${good}`],
          ['Content-Type', 'application/json'],
          ['Content-Length', '27'],
        ],
        '{"__proto__":{"x":1},"a":1}',
      ),
      400,
      /^invalid request: the JSON body has a "__proto__" key, which is refused$/,
    );
    await raw(
      requestBytes(
        'POST',
        '/v1/posts/p1/likes',
        [...base, ['Authorization', `Bearer ${good}`], ['Content-Length', '2']],
        '{}',
      ),
      415,
      /^the request has a body but no content-type; send no body or application\/json$/,
    );
  });

  it('edge: is still alive and healthy after all of it', async () => {
    expect((await fetch(`${api.url}/health`)).status).toBe(200);
  });

  it('produced nothing for any of the bad requests (only the 3 accepted ones are in the topic)', async () => {
    expect(await topicSize(kafka, topics.events)).toBe(3);
  });
});
