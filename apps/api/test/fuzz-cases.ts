import { requestBytes } from './raw-http';

/**
 * Generated bad requests for the api fuzz test. Every case is invalid by construction: each
 * scenario builds its request around at least one flaw the api must refuse with a 4xx whatever else
 * the request holds (a malformed id, a bad token, a body that is not {}, a bad query, an unknown
 * path, a wrong method, malformed HTTP, an oversized part). The rest is noise that cannot make it
 * valid. So a 2xx is a failure too, and nothing may reach the events topic.
 */

/** mulberry32: small, fast, and the same sequence for the same seed on every machine */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** an integer in [min, max] */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  string(length: number, alphabet: string): string {
    let s = '';
    for (let i = 0; i < length; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
}

export interface FuzzCase {
  /** scenario/variant, for the summary and for failure reports */
  scenario: string;
  transport: 'raw' | 'fetch';
  method: string;
  target: string;
  headers: [string, string][];
  body: Buffer;
  /** raw only: the exact bytes on the wire */
  bytes?: Buffer;
  /** raw only: half-close after writing (a body shorter than its Content-Length) */
  endAfterWrite?: boolean;
  /** the statuses this case may get, where the flaw alone decides it */
  expect?: number[];
}

export interface FuzzContext {
  /** Authorization header values the api accepts (distinct users) */
  validAuth: string[];
  /** Authorization header values the api must refuse with a 401, labelled */
  invalidAuth: { kind: string; value: string }[];
  bodyLimitBytes: number;
}

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
/** every ASCII character an id may not have (the 64 others) */
export const FORBIDDEN_ASCII = Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).filter(
  (c) => !ID_CHARS.includes(c),
);
const UNICODE = ['é', 'ß', 'Ω', '☃', '😀', '\u2028', '\ufeff', '\u0301', '\ud7ff', 'ｆ'];
/** allowed as they are in a path, so sometimes not percent-encoded */
const PATH_SAFE = new Set([...".~!$'()*+,;=:@&"]);
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join('');
const FETCH_METHODS = new Set(['GET', 'HEAD', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS']);
/** headers fetch sets itself or refuses */
const FETCH_OWNED = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'expect',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
]);

const likesPath = (id: string) => `/v1/posts/${id}/likes`;

export function validId(rng: Rng): string {
  return rng.string(rng.chance(0.2) ? 64 : rng.int(1, 64), ID_CHARS);
}

/** An id the api must refuse (decoded form), with what is wrong with it. */
export function invalidId(rng: Rng, options: { noComma?: boolean } = {}): { id: string; why: string } {
  const roll = rng.int(0, 9);
  if (roll === 0) return { id: rng.string(65, ID_CHARS), why: '65-chars' };
  if (roll === 1) return { id: rng.string(rng.int(66, 400), ID_CHARS), why: 'long' };
  if (roll === 2) return { id: rng.pick(['.', '..', ' ', '%', '\u0000', '.a', '-..-']), why: 'odd' };
  const base = rng.string(rng.int(0, 63), ID_CHARS);
  const forbidden = FORBIDDEN_ASCII.filter((c) => !(options.noComma && c === ','));
  const bad = roll < 8 ? rng.pick(forbidden) : rng.pick(UNICODE);
  const at = rng.int(0, base.length);
  const id = base.slice(0, at) + bad + base.slice(at);
  return { id, why: roll < 8 ? `forbidden-char/${bad.charCodeAt(0).toString(16)}` : 'unicode' };
}

/** Percent-encodes a character's UTF-8 bytes, in upper or lower case hex. */
function escape(rng: Rng, ch: string): string {
  const hex = [...Buffer.from(ch, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
  return rng.chance(0.5) ? hex.toUpperCase() : hex;
}

/** An id as a path segment: forbidden characters escaped (sub-delims sometimes raw), others sometimes escaped too. */
function pathSegment(rng: Rng, id: string): string {
  return [...id]
    .map((ch) => {
      if (ID_CHARS.includes(ch)) return rng.chance(0.03) ? escape(rng, ch) : ch;
      if (PATH_SAFE.has(ch) && rng.chance(0.5)) return ch;
      return escape(rng, ch);
    })
    .join('');
}

/** An id as a value in the query string (a raw + is a space, which is no id character either). */
function queryValue(rng: Rng, id: string): string {
  return [...id]
    .map((ch) => {
      if (ID_CHARS.includes(ch)) return rng.chance(0.03) ? escape(rng, ch) : ch;
      if (ch === ' ' && rng.chance(0.5)) return '+';
      return escape(rng, ch);
    })
    .join('');
}

/** A malformed percent escape. */
function badEscape(rng: Rng): string {
  return rng.pick([
    '%',
    '%Z',
    '%ZZ',
    '%G0',
    '%4',
    '%%',
    '%E0%A4%A',
    '%E0%A4',
    '%C0%AF',
    '%FF',
    '%ED%A0%80',
    '%F0%9F%98',
    '%C3',
    '%0',
    '%u0041',
  ]);
}

/** Mirrors the api: what body a like/unlike accepts (nothing, null, "", or {} as JSON, read as UTF-8, BOM or not). */
export function acceptableLikeBody(body: Buffer): boolean {
  const text = body.toString('utf8');
  if (text.trim() === '') return true;
  let value: unknown;
  try {
    value = JSON.parse(text.replace(/^\ufeff/, ''));
  } catch {
    return false;
  }
  return (
    value === null ||
    value === '' ||
    (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0)
  );
}

function randomJsonValue(rng: Rng, depth: number): unknown {
  const roll = rng.int(0, depth > 3 ? 4 : 6);
  switch (roll) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1e308, 3.14, 2 ** 53 + 1]);
    case 3:
      return rng.string(rng.int(0, 12), PRINTABLE);
    case 4:
      return rng.pick(UNICODE);
    case 5:
      return Array.from({ length: rng.int(0, 3) }, () => randomJsonValue(rng, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(0, 3); i > 0; i--) o[randomKey(rng)] = randomJsonValue(rng, depth + 1);
      return o;
    }
  }
}

function randomKey(rng: Rng): string {
  return rng.pick([
    'userId',
    'postId',
    'action',
    'eventId',
    'sub',
    '',
    ' ',
    'constructor',
    'toString',
    'hasOwnProperty',
    '__defineGetter__',
    rng.string(rng.int(1, 8), ID_CHARS),
    rng.pick(UNICODE),
  ]);
}

/**
 * A body the like endpoint must refuse: never blank, null, "" or {}. Raw requests carry at most
 * 12 KiB (a server that answers before reading a larger body may reset the connection under the
 * client's feet); bigger ones go through fetch (`huge`).
 */
function invalidBody(rng: Rng, limit: number, huge = false): { body: Buffer; why: string } {
  const roll = huge ? 11 : rng.int(0, 11);
  let text: string | undefined;
  let bytes: Buffer | undefined;
  let why: string;
  switch (roll) {
    case 0:
    case 1: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(1, 4); i > 0; i--) o[randomKey(rng)] = randomJsonValue(rng, 1);
      text = JSON.stringify(o);
      why = 'object-with-fields';
      break;
    }
    case 2:
      text = rng.pick([
        '{"__proto__":{"admin":true}}',
        '{"constructor":{"prototype":{"x":1}}}',
        '{"a":{"__proto__":null}}',
        '{"__proto__":1,"__proto__":2}',
      ]);
      why = 'prototype-keys';
      break;
    case 3:
      text = JSON.stringify(Array.from({ length: rng.int(0, 4) }, () => randomJsonValue(rng, 1)));
      why = 'array';
      break;
    case 4:
      text = rng.pick(['0', '-1', '1e999', 'true', 'false', '"x"', '"\\u0000"', '12345678901234567890']);
      why = 'scalar';
      break;
    case 5: {
      const depth = rng.int(2, Math.max(2, Math.floor(limit / 2) - 2));
      text = rng.chance(0.5)
        ? '['.repeat(depth) + ']'.repeat(depth)
        : `${'{"a":'.repeat(Math.ceil(depth / 5))}1${'}'.repeat(Math.ceil(depth / 5))}`;
      why = 'nested';
      break;
    }
    case 6:
      text = rng.pick([
        '{"oops',
        '{',
        '}',
        "{'a':1}",
        '{"a":1,}',
        '[1,]',
        'NaN',
        'undefined',
        '{"a":NaN}',
        '\ufeff{}',
        '{}x',
        '{} {}',
        '// comment\n{}',
        '{"a":"\u0000"}',
        'nul',
        '<xml/>',
        'a=1&b=2',
        '\u0000',
        '{"a":1}\u0000',
      ]);
      why = 'malformed';
      break;
    case 7:
      text = rng.string(rng.int(1, 200), PRINTABLE);
      why = 'random-text';
      break;
    case 8:
      bytes = Buffer.from(Array.from({ length: rng.int(1, 200) }, () => rng.int(0, 255)));
      why = 'random-bytes';
      break;
    default: {
      const size = huge ? rng.int(64 * 1024, 1024 * 1024) : rng.int(limit + 1, 12 * 1024);
      text = `{"pad":"${'x'.repeat(size)}"}`;
      why = huge ? 'huge' : 'too-large';
    }
  }
  let body = bytes ?? Buffer.from(text ?? '', 'utf8');
  if (acceptableLikeBody(body)) {
    body = Buffer.concat([Buffer.from('['), body, Buffer.from(']')]); // an array never is
    why += '+wrapped';
  }
  return { body, why };
}

/** content types the api reads as JSON */
const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON'];
/** borderline spellings: JSON or unsupported, either answer is right */
const ODD_TYPES = [
  'application/json;charset=latin1',
  'Application/Json ; x=y',
  'application/json; charset=utf-16',
];
const OTHER_TYPES = [
  'text/plain',
  'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/octet-stream',
  'application/jsonx',
  'application/merge-patch+json',
  'application/problem+json',
  'json',
  '*/*',
  '',
  ';;;',
  'text/html; charset=utf-8',
  'application/',
  '/json',
];

/** Harmless headers: none of them changes what the api decides. */
function noiseHeaders(rng: Rng): [string, string][] {
  const out: [string, string][] = [];
  for (let i = rng.int(0, 4); i > 0; i--) {
    out.push(
      rng.pick<[string, string]>([
        [
          'Accept',
          rng.pick(['*/*', 'application/json', 'text/event-stream', 'application/problem+json', 'x/y;q=0.1']),
        ],
        ['User-Agent', rng.string(rng.int(0, 40), PRINTABLE).trim() || 'fuzz'],
        ['X-Fuzz', rng.string(rng.int(1, 60), PRINTABLE).trim() || 'x'],
        ['Accept-Encoding', rng.pick(['gzip', 'br, deflate', 'identity', '*'])],
        ['Cookie', `a=${rng.string(8, ID_CHARS)}`],
        ['X-Forwarded-For', `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(0, 255)}`],
        ['Cache-Control', 'no-cache'],
        ['Last-Event-ID', String(rng.int(0, 1e6))],
        ['If-None-Match', `"${rng.string(6, ID_CHARS)}"`],
      ]),
    );
  }
  return out;
}

/** A query that the likes routes ignore (they read no query parameters). */
function noiseQuery(rng: Rng): string {
  if (!rng.chance(0.15)) return '';
  return `?${rng.pick(['a=1', 'posts=p1', 'x=%41&y=', 'user=alice', 'token=abc', '_=1&_=2'])}`;
}

interface Draft {
  scenario: string;
  method: string;
  target: string;
  headers: [string, string][];
  body?: Buffer;
  expect?: number[];
  rawOnly?: boolean;
  /** must go through fetch (a body too big to send raw) */
  fetchOnly?: boolean;
  /** the flaw does not depend on the body, so its Content-Length may lie */
  lengthGames?: boolean;
}

type Scenario = (rng: Rng, ctx: FuzzContext) => Draft;

/** A refused Authorization value that fits in the header limit (so the flaw under test decides the status). */
const smallBadAuth = (rng: Rng, ctx: FuzzContext): string =>
  rng.pick(ctx.invalidAuth.filter((a) => a.value.length < 10_000)).value;

/** A valid id is fine, the flaw is elsewhere; an invalid one is refused before anything else is used. */
const badId: Scenario = (rng, ctx) => {
  const { id, why } = invalidId(rng);
  const seg = pathSegment(rng, id);
  const shape = rng.int(0, 5);
  const auth: [string, string][] = rng.chance(0.7) ? [['Authorization', rng.pick(ctx.validAuth)]] : [];
  if (shape <= 2) {
    const method = rng.pick(['POST', 'DELETE', 'GET', 'HEAD']);
    const body = method === 'POST' || method === 'DELETE' ? maybeBody(rng, ctx) : undefined;
    return {
      scenario: `bad-id/${why}`,
      method,
      target: likesPath(seg) + noiseQuery(rng),
      headers: [...auth, ...(body?.headers ?? [])],
      body: body?.body,
      lengthGames: true,
    };
  }
  if (shape === 3)
    return {
      scenario: `bad-id/stream/${why}`,
      method: rng.pick(['GET', 'HEAD']),
      target: `/v1/posts/${seg}/likes/stream`,
      headers: [],
    };
  // an id that is only a slash may leave no segment to route on: 404
  if (shape === 4)
    return {
      scenario: `bad-id/page/${why}`,
      method: 'GET',
      target: `/p/${seg}`,
      headers: [],
      expect: [400, 404],
    };
  return {
    scenario: `bad-id/home/${why}`,
    method: 'GET',
    target: `/?post=${queryValue(rng, id)}`,
    headers: [],
    expect: [400],
  };
};

/** A body that may come with a bad token or id (the flaw is elsewhere, so any body will do). */
function maybeBody(rng: Rng, ctx: FuzzContext): { body: Buffer; headers: [string, string][] } | undefined {
  if (rng.chance(0.5)) return undefined;
  const body = rng.chance(0.3)
    ? Buffer.from(rng.pick(['{}', 'null', '', '  ']))
    : invalidBody(rng, ctx.bodyLimitBytes).body;
  const type = rng.chance(0.7) ? rng.pick(JSON_TYPES) : rng.pick(OTHER_TYPES);
  return { body, headers: rng.chance(0.9) ? [['Content-Type', type]] : [] };
}

const badToken: Scenario = (rng, ctx) => {
  const token = rng.pick(ctx.invalidAuth);
  const id = pathSegment(rng, validId(rng));
  if (rng.chance(0.5)) {
    // a read: the token is optional, but one that is there must be valid
    return {
      scenario: `bad-token/read/${token.kind}`,
      method: rng.pick(['GET', 'HEAD']),
      target: likesPath(id) + noiseQuery(rng),
      headers: [['Authorization', token.value]],
      expect: token.value.length > 16384 ? [431] : [401],
    };
  }
  const missing = rng.chance(0.1);
  const body = maybeBody(rng, ctx);
  return {
    scenario: `bad-token/write/${missing ? 'missing' : token.kind}`,
    method: rng.pick(['POST', 'DELETE']),
    target: likesPath(id) + noiseQuery(rng),
    headers: [
      ...(missing ? [] : [['Authorization', token.value] as [string, string]]),
      ...(body?.headers ?? []),
    ],
    body: body?.body,
    lengthGames: true,
  };
};

const badBody: Scenario = (rng, ctx) => {
  const huge = rng.chance(0.02);
  const { body, why } = invalidBody(rng, ctx.bodyLimitBytes, huge);
  const typeRoll = rng.int(0, 19);
  const type =
    typeRoll < 12
      ? rng.pick(JSON_TYPES)
      : typeRoll < 14
        ? rng.pick(ODD_TYPES)
        : typeRoll < 19
          ? rng.pick(OTHER_TYPES)
          : undefined;
  const kind =
    typeRoll < 12 ? 'json' : typeRoll < 14 ? 'odd-type' : type === undefined ? 'no-type' : 'other-type';
  const tooLarge = body.length > ctx.bodyLimitBytes;
  return {
    scenario: `bad-body/${kind}/${why}`,
    method: rng.pick(['POST', 'DELETE']),
    target: likesPath(pathSegment(rng, validId(rng))) + noiseQuery(rng),
    headers: [
      ['Authorization', rng.pick(ctx.validAuth)],
      ...(type === undefined ? [] : [['Content-Type', type] as [string, string]]),
    ],
    body,
    fetchOnly: huge,
    // too large is decided from Content-Length before the type is looked at
    expect: tooLarge ? [413, 415] : kind === 'json' ? [400] : kind === 'odd-type' ? [400, 415] : [415],
  };
};

const badQuery: Scenario = (rng) => {
  const entries: string[] = [];
  const valid = () => queryValue(rng, validId(rng));
  const roll = rng.int(0, 8);
  let why: string;
  if (roll === 0) {
    why = 'too-many';
    const n = rng.int(101, 200);
    const pool = Array.from({ length: rng.int(1, 30) }, () => rng.string(rng.int(1, 20), ID_CHARS));
    for (let i = 0; i < n; i++) entries.push(rng.pick(pool)); // duplicates count towards the limit
  } else if (roll === 1) {
    why = 'empty-entry';
    for (let i = rng.int(0, 20); i > 0; i--) entries.push(valid());
    entries.splice(rng.int(0, entries.length), 0, '');
  } else if (roll <= 4) {
    why = 'invalid-id';
    for (let i = rng.int(0, 20); i > 0; i--) entries.push(valid());
    entries.splice(rng.int(0, entries.length), 0, queryValue(rng, invalidId(rng, { noComma: true }).id));
  } else {
    why = 'other';
    for (let i = rng.int(1, 10); i > 0; i--) entries.push(valid());
  }
  const posts = `posts=${entries.join(rng.chance(0.1) ? '%2C' : ',')}`;
  const query =
    roll === 5
      ? `?${posts}&${rng.pick(['limit=5', 'post=a', 'Posts=a', 'posts[]=a', '__proto__=x', 'constructor=1', '=x', 'x'])}`
      : roll === 6
        ? `?${rng.pick(['', 'post=a', 'p=a,b', 'POSTS=a'])}`
        : roll === 7
          ? `?${posts}${badEscape(rng)}`
          : roll === 8
            ? `?${posts}&posts=`
            : `?${posts}`;
  if (roll >= 5) why = ['unknown-param', 'missing-posts', 'bad-escape', 'repeated-empty'][roll - 5];
  return {
    scenario: `bad-query/${why}`,
    method: rng.pick(['GET', 'GET', 'HEAD']),
    target: `/v1/likes${query}`,
    headers: [],
    expect: query.length + 9 > 8192 ? [414, 431] : [400],
  };
};

const badPathEscape: Scenario = (rng, ctx) => {
  const seg = pathSegment(rng, validId(rng));
  const e = badEscape(rng);
  const where = rng.int(0, 3);
  // never a hex digit right after the escape: %4 followed by 1 would be a valid %41
  const target = [
    `/v1/posts/${seg}${e}/likes`,
    `/v1/posts/${seg}${e}/likes/stream`,
    `/v1/po${e}sts/${seg}/likes`,
    `/p/${seg}${e}`,
  ][where];
  const auth: [string, string][] = rng.chance(0.5) ? [['Authorization', rng.pick(ctx.validAuth)]] : [];
  return {
    scenario: `bad-path-escape/${where}`,
    method: rng.pick(['GET', 'POST', 'DELETE', 'HEAD', 'PUT']),
    target: target + noiseQuery(rng),
    headers: auth,
    expect: [400],
  };
};

const unknownPath: Scenario = (rng, ctx) => {
  const id = pathSegment(rng, validId(rng));
  const mutations: [string, string][] = [
    ['trailing-slash', `${likesPath(id)}/`],
    ['double-slash', `/v1//posts/${id}/likes`],
    ['leading-double-slash', `/${likesPath(id)}`],
    ['dot-segment', `/v1/posts/./${id}/likes`],
    ['dot-dot', `/v1/posts/${id}/../${id}/likes`],
    ['dot-dot-escaped', `/v1/posts/${id}/%2e%2e/likes`],
    ['case', `/V1/posts/${id}/likes`],
    ['case-2', `/v1/Posts/${id}/likes`],
    ['extra-segment', `${likesPath(id)}/extra`],
    ['missing-segment', `/v1/posts/${id}`],
    ['empty-id', '/v1/posts//likes'],
    ['v2', `/v2/posts/${id}/likes`],
    ['dev-token', `/dev/token${rng.chance(0.5) ? '?user=alice' : ''}`],
    ['nul-escaped', `/v1/po%00sts/${id}/likes`],
    ['unicode-escaped', `/v1/p%C3%B6sts/${id}/likes`],
    ['encoded-slash', `/v1%2Fposts/${id}/likes`],
    ['semicolon', `/v1/posts/${id}/likes;x=1`],
    ['backslash', `/v1\\posts\\${id}\\likes`],
    ['health-slash', '/health/'],
    [
      'random',
      `/fuzz/${rng.string(rng.int(0, 60), ID_CHARS + '/.~%')}`.replace(/%(?![0-9A-Fa-f]{2})/g, '%25'),
    ],
    ['long', `/fuzz/${rng.string(rng.int(2000, 8000), ID_CHARS)}`],
    ['star', '*'],
  ];
  const [why, target] = rng.pick(mutations);
  const auth: [string, string][] = rng.chance(0.5) ? [['Authorization', rng.pick(ctx.validAuth)]] : [];
  return {
    scenario: `unknown-path/${why}`,
    method: rng.pick(['GET', 'POST', 'DELETE', 'HEAD', 'OPTIONS']),
    target,
    headers: auth,
    // a random path may hold escapes that are not UTF-8; a raw backslash may be refused by the parser
    expect: why === 'random' || why === 'backslash' ? [400, 404] : [404],
  };
};

const wrongMethod: Scenario = (rng, ctx) => {
  const id = pathSegment(rng, validId(rng));
  const [path, methods] = rng.pick<[string, string[]]>([
    [
      likesPath(id),
      ['PUT', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'SEARCH', 'LOCK', 'MKCOL', 'COPY', 'PURGE', 'REPORT'],
    ],
    [`/v1/posts/${id}/likes/stream`, ['POST', 'DELETE', 'PUT', 'PATCH']],
    ['/v1/likes?posts=a,b', ['POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS']],
    ['/health', ['POST', 'DELETE', 'PUT']],
    ['/ready', ['POST', 'DELETE']],
    ['/metrics', ['POST', 'PATCH']],
    [`/p/${id}`, ['POST', 'DELETE']],
    ['/docs/openapi.json', ['POST', 'PUT']],
  ]);
  const auth: [string, string][] = rng.chance(0.5) ? [['Authorization', rng.pick(ctx.validAuth)]] : [];
  return { scenario: 'wrong-method', method: rng.pick(methods), target: path, headers: auth, expect: [405] };
};

/** Header-level flaws that are still well-formed HTTP. */
const headerFlaws: Scenario = (rng, ctx) => {
  const id = pathSegment(rng, validId(rng));
  const valid = rng.pick(ctx.validAuth);
  const roll = rng.int(0, 5);
  if (roll === 0) {
    const other = rng.chance(0.5) ? smallBadAuth(rng, ctx) : rng.pick(ctx.validAuth);
    const pair: [string, string][] = [
      ['Authorization', valid],
      ['authorization', other],
    ];
    return {
      scenario: 'headers/two-authorization',
      method: rng.pick(['POST', 'DELETE', 'GET']),
      target: likesPath(id),
      headers: rng.chance(0.5) ? pair : pair.reverse(),
      rawOnly: true,
      expect: [400],
    };
  }
  if (roll === 1)
    return {
      scenario: 'headers/two-content-types',
      method: 'POST',
      target: likesPath(id),
      headers: [
        ['Authorization', valid],
        ['Content-Type', 'application/json'],
        ['Content-Type', rng.pick(JSON_TYPES)],
      ],
      body: Buffer.from('{}'),
      rawOnly: true,
      expect: [400],
    };
  if (roll === 2)
    return {
      scenario: 'headers/expect',
      method: rng.pick(['POST', 'GET']),
      target: likesPath(id),
      // (a value that merely contains 100-continue, like "100-continue, foo", counts as 100-continue)
      headers: [
        ['Authorization', smallBadAuth(rng, ctx)],
        ['Expect', rng.pick(['foo', '100-continuex', '200-ok', 'x'.repeat(300), 'continue'])],
      ],
      rawOnly: true,
      expect: [417],
    };
  if (roll === 3) {
    // many small headers; the request is refused for its bad token whatever Node makes of the rest
    const headers: [string, string][] = [['Authorization', smallBadAuth(rng, ctx)]];
    for (let i = rng.int(50, 3000); i > 0; i--)
      headers.push([`X-H${i}`, rng.string(rng.int(0, 8), ID_CHARS) || 'v']);
    return { scenario: 'headers/many', method: 'GET', target: likesPath(id), headers, rawOnly: true };
  }
  if (roll === 4)
    return {
      scenario: 'headers/upgrade',
      method: 'GET',
      target: likesPath(id),
      headers: [
        ['Authorization', smallBadAuth(rng, ctx)],
        ['Upgrade', rng.pick(['websocket', 'h2c', 'HTTP/2.0'])],
        ['Connection', 'Upgrade'],
      ],
      rawOnly: true,
    };
  return {
    scenario: 'headers/expect-100-continue',
    method: 'POST',
    target: likesPath(id),
    headers: [
      ['Authorization', smallBadAuth(rng, ctx)],
      ['Expect', '100-continue'],
      ['Content-Type', 'application/json'],
    ],
    body: Buffer.from('{}'),
    rawOnly: true,
  };
};

const oversize: Scenario = (rng, ctx) => {
  const roll = rng.int(0, 3);
  const id = pathSegment(rng, validId(rng));
  if (roll === 0) {
    const n = rng.int(8193 - 16, rng.chance(0.7) ? 15000 : 40000);
    const target = `/v1/likes?posts=${rng.string(n, ID_CHARS)}`;
    // past 16 KiB Node's parser refuses it; split over packets it cannot be told from a 431
    const expect = target.length <= 8192 ? [400] : target.length < 16000 ? [414] : [414, 431];
    return { scenario: 'oversize/url', method: 'GET', target, headers: [], rawOnly: true, expect };
  }
  if (roll === 1) {
    const size = rng.int(16400, 70000);
    return {
      scenario: 'oversize/header',
      method: rng.pick(['GET', 'POST']),
      target: likesPath(id),
      headers: [
        ['Authorization', rng.pick(ctx.invalidAuth).value],
        [rng.pick(['X-Big', 'Cookie', 'Referer']), rng.string(size, ID_CHARS)],
      ],
      rawOnly: true,
      expect: [431],
    };
  }
  if (roll === 2) {
    const headers: [string, string][] = [['Authorization', rng.pick(ctx.invalidAuth).value]];
    for (let i = 0; i < 400; i++) headers.push([`X-Pad-${i}`, rng.string(50, ID_CHARS)]);
    return {
      scenario: 'oversize/headers-total',
      method: 'GET',
      target: likesPath(id),
      headers,
      rawOnly: true,
      expect: [431],
    };
  }
  const length = rng.int(8193, 15000);
  return {
    scenario: 'oversize/token',
    method: rng.pick(['GET', 'POST']),
    target: likesPath(id),
    headers: [['Authorization', `Bearer ${rng.string(length, ID_CHARS)}`]],
    rawOnly: true,
    expect: [401, 431],
  };
};

/** Malformed HTTP, built byte by byte; each also carries a semantic flaw (an unknown path or a bad token). */
function wire(rng: Rng, ctx: FuzzContext): FuzzCase {
  const id = validId(rng);
  const badAuth = rng.pick(ctx.invalidAuth).value;
  const flawed = rng.chance(0.5) ? `/fuzz/${id}` : likesPath(id);
  const auth = flawed.startsWith('/fuzz') ? rng.pick(ctx.validAuth) : badAuth;
  const line = (method: string, target: string, version = 'HTTP/1.1') => `${method} ${target} ${version}`;
  const head = (first: string, headers: string[], eol = '\r\n') => [first, ...headers, '', ''].join(eol);
  const std = [`Host: 127.0.0.1`, `Authorization: ${auth}`, 'Connection: close'];
  const post = (extra: string[], body: string) =>
    Buffer.from(
      head(line('POST', flawed), [...std, 'Content-Type: application/json', ...extra]) + body,
      'latin1',
    );
  const variants: [string, () => Buffer, boolean?][] = [
    [
      'invalid-method',
      () =>
        Buffer.from(
          head(
            line(
              rng.pick(['get', 'G@T', 'FOO', 'LIKE', 'GETT', 'POS', 'X', 'DELETEX', '{}', 'G\u0000T']),
              flawed,
            ),
            std,
          ),
          'latin1',
        ),
    ],
    [
      'known-odd-method',
      () =>
        Buffer.from(
          head(
            line(rng.pick(['LINK', 'UNLINK', 'BIND', 'SOURCE', 'MKCALENDAR', 'QUERY', 'CHECKOUT']), flawed),
            std,
          ),
          'latin1',
        ),
    ],
    [
      'target-char',
      () => {
        const ch = rng.pick([
          '\u0000',
          '\u0001',
          '\u007f',
          ' x',
          '\t',
          '"',
          '<',
          '>',
          '{',
          '|',
          '\\',
          '^',
          '`',
          '\u00e9',
          '\u00ff',
        ]);
        return Buffer.from(head(line('GET', `/fuzz/${id}${ch}${id}`), std), 'latin1');
      },
    ],
    [
      'target-utf8',
      () =>
        Buffer.concat([
          Buffer.from(`GET /fuzz/`),
          Buffer.from(rng.pick(UNICODE), 'utf8'),
          Buffer.from(` HTTP/1.1\r\n${std.join('\r\n')}\r\n\r\n`),
        ]),
    ],
    [
      'header-name',
      () =>
        Buffer.from(
          head(line('GET', flawed), [
            ...std,
            `${rng.pick(['X Bad', 'X\u0001', '(x)', 'X:Y', 'Ã©', '', ' X', 'X\u007f', '{}'])}: v`,
          ]),
          'latin1',
        ),
    ],
    [
      'header-value',
      () =>
        Buffer.from(
          head(line('GET', flawed), [
            ...std,
            `X-Bad: a${rng.pick(['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001f', '\u007f', '\r'])}b`,
          ]),
          'latin1',
        ),
    ],
    ['no-colon', () => Buffer.from(head(line('GET', flawed), [...std, 'NoColonHere']), 'latin1')],
    ['obs-fold', () => Buffer.from(head(line('GET', flawed), [...std, 'X-A: a', ' folded']), 'latin1')],
    [
      'bad-content-length',
      () =>
        post(
          [
            `Content-Length: ${rng.pick(['abc', '-1', '1.5', '+2', '0x10', '1 2', '99999999999999999999', '', ' ', '2,2'])}`,
          ],
          '{}',
        ),
    ],
    [
      'duplicate-content-length',
      () => post(['Content-Length: 2', `Content-Length: ${rng.pick(['3', '2', '20'])}`], '{}x'),
    ],
    [
      'content-length-and-chunked',
      () => post(['Content-Length: 2', 'Transfer-Encoding: chunked'], '2\r\n{}\r\n0\r\n\r\n'),
    ],
    [
      'transfer-encoding',
      () =>
        post(
          [
            `Transfer-Encoding: ${rng.pick(['gzip', 'chunked, gzip', 'identity', 'xchunked', 'chunked;x', 'CHUNKED2'])}`,
          ],
          '2\r\n{}\r\n0\r\n\r\n',
        ),
    ],
    [
      'bad-chunk',
      () =>
        post(
          ['Transfer-Encoding: chunked'],
          rng.pick([
            'zz\r\n{}\r\n0\r\n\r\n',
            '2\r\n{}XX0\r\n\r\n',
            '-1\r\n\r\n',
            `2;${'e'.repeat(20000)}\r\n{}\r\n0\r\n\r\n`,
            'FFFFFFFFFFFFFFFFFF\r\n',
          ]),
        ),
    ],
    [
      'version',
      () =>
        Buffer.from(
          head(
            line(
              'GET',
              flawed,
              rng.pick([
                'HTTP/1.2',
                'HTTP/2.0',
                'HTTP/3',
                'HTTPS/1.1',
                'http/1.1',
                'HTTP/1.1x',
                'HTTP/11',
                'HTTP/',
              ]),
            ),
            std,
          ),
          'latin1',
        ),
    ],
    [
      'line-endings',
      () => Buffer.from(head(line('GET', flawed), std, rng.pick(['\n', '\r', '\n\r'])), 'latin1'),
    ],
    [
      'missing-host',
      () => Buffer.from(head(line('GET', flawed), [`Authorization: ${auth}`, 'Connection: close']), 'latin1'),
    ],
    ['duplicate-host', () => Buffer.from(head(line('GET', flawed), [...std, 'Host: example.com']), 'latin1')],
    ['h2-preface', () => Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1')],
    // never a letter first (so never a method) and never CR or LF (leading line ends are skipped)
    [
      'garbage',
      () =>
        Buffer.from([
          rng.pick([0, 1, 9, 32, 33, 47, 48, 57, 64, 91, 123, 200, 255]),
          ...Array.from({ length: rng.int(0, 300) }, () => rng.int(0, 255)),
          13,
          10,
          13,
          10,
        ]),
    ],
    [
      'connect',
      () =>
        Buffer.from(
          head(line('CONNECT', rng.pick(['127.0.0.1:80', 'example.com:443', '/x'])), std),
          'latin1',
        ),
    ],
    ['leading-crlf', () => Buffer.from(`\r\n${head(line('GET', flawed), std)}`, 'latin1')],
    ['short-body', () => post(['Content-Length: 50'], '{"a":'), true],
    ['absolute-form', () => Buffer.from(head(line('GET', `http://127.0.0.1${flawed}`), std), 'latin1')],
    [
      'http10',
      () => Buffer.from(head(line('GET', flawed, 'HTTP/1.0'), [`Authorization: ${auth}`]), 'latin1'),
    ],
  ];
  const [why, build, endAfterWrite] = rng.pick(variants);
  const bytes = build();
  return {
    scenario: `wire/${why}`,
    transport: 'raw',
    method: '',
    target: '',
    headers: [],
    body: Buffer.alloc(0),
    bytes,
    endAfterWrite: endAfterWrite ?? false,
  };
}

const SCENARIOS: [number, Scenario | 'wire'][] = [
  [14, badId],
  [14, badToken],
  [12, badBody],
  [12, badQuery],
  [8, badPathEscape],
  [10, unknownPath],
  [6, wrongMethod],
  [6, headerFlaws],
  [5, oversize],
  [13, 'wire'],
];
const TOTAL = SCENARIOS.reduce((s, [w]) => s + w, 0);

export function generateCase(rng: Rng, ctx: FuzzContext): FuzzCase {
  let roll = rng.next() * TOTAL;
  let chosen: Scenario | 'wire' = 'wire';
  for (const [weight, scenario] of SCENARIOS) {
    if ((roll -= weight) < 0) {
      chosen = scenario;
      break;
    }
  }
  if (chosen === 'wire') return wire(rng, ctx);
  const draft = chosen(rng, ctx);
  const noise = draft.fetchOnly ? [] : noiseHeaders(rng);
  const names = new Set(draft.headers.map(([k]) => k.toLowerCase()));
  const headers = [
    ...draft.headers,
    ...noise.filter(([k]) => !names.has(k.toLowerCase()) && names.add(k.toLowerCase())),
  ];
  const body = draft.body ?? Buffer.alloc(0);
  const fetchable =
    !draft.rawOnly &&
    FETCH_METHODS.has(draft.method) &&
    isFetchTarget(draft.target) &&
    headers.every(([k, v]) => !FETCH_OWNED.has(k.toLowerCase()) && /^[\x20-\x7e]*$/.test(v)) &&
    new Set(headers.map(([k]) => k.toLowerCase())).size === headers.length &&
    !(body.length > 0 && (draft.method === 'GET' || draft.method === 'HEAD'));
  if (draft.fetchOnly && !fetchable) throw new Error(`generator: ${draft.scenario} must be fetchable`);
  const c: FuzzCase = {
    scenario: draft.scenario,
    transport: draft.fetchOnly || (fetchable && rng.chance(0.5)) ? 'fetch' : 'raw',
    method: draft.method,
    target: draft.target,
    headers,
    body,
    expect: draft.expect,
  };
  if (c.transport === 'raw') Object.assign(c, rawBytes(c, rng, draft.lengthGames ?? false));
  return c;
}

/** fetch sends a target as it is only when the URL parser would not change it */
function isFetchTarget(target: string): boolean {
  if (!target.startsWith('/') || /[^\x21-\x7e]|[#\\]/.test(target)) return false;
  const url = new URL(target, 'http://127.0.0.1');
  return url.pathname + url.search === target;
}

/**
 * The bytes of a raw case: its request line and headers, Host, Connection: close, and the body
 * framed by Content-Length or chunked. With `lengthGames` (the flaw lies elsewhere) the
 * Content-Length may be short (the rest is read as a second, garbage request) or long (the
 * client then half-closes: an incomplete request).
 */
function rawBytes(
  c: FuzzCase,
  rng: Rng,
  lengthGames: boolean,
): { bytes: Buffer; endAfterWrite: boolean; scenario: string } {
  const headers: [string, string][] = [['Host', '127.0.0.1'], ...c.headers, ['Connection', 'close']];
  if (c.body.length === 0)
    return { bytes: requestBytes(c.method, c.target, headers), endAfterWrite: false, scenario: c.scenario };
  const game = lengthGames ? rng.int(0, 9) : 9;
  if (game === 0 && c.body.length > 1) {
    const short = rng.int(0, c.body.length - 1);
    return {
      bytes: requestBytes(c.method, c.target, [...headers, ['Content-Length', String(short)]], c.body),
      endAfterWrite: false,
      scenario: `${c.scenario}+short-length`,
    };
  }
  if (game === 1)
    return {
      bytes: requestBytes(
        c.method,
        c.target,
        [...headers, ['Content-Length', String(c.body.length + rng.int(1, 100))]],
        c.body,
      ),
      endAfterWrite: true,
      scenario: `${c.scenario}+long-length`,
    };
  if (rng.chance(0.2))
    return {
      bytes: requestBytes(
        c.method,
        c.target,
        [...headers, ['Transfer-Encoding', 'chunked']],
        chunked(c.body, rng),
      ),
      endAfterWrite: false,
      scenario: c.scenario,
    };
  return {
    bytes: requestBytes(c.method, c.target, [...headers, ['Content-Length', String(c.body.length)]], c.body),
    endAfterWrite: false,
    scenario: c.scenario,
  };
}

function chunked(body: Buffer, rng: Rng): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < body.length;) {
    const n = Math.min(body.length - at, rng.int(1, 4096));
    parts.push(Buffer.from(`${n.toString(16)}\r\n`), body.subarray(at, at + n), Buffer.from('\r\n'));
    at += n;
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}
