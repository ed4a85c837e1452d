import { createHmac, createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { mintToken } from '@doubletap/auth';
import { FORBIDDEN_ASCII, type FuzzContext } from './fuzz-cases';

const b64 = (v: unknown): string =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** An HS256 JWT over any header and payload text (jose only signs a JSON object payload). */
function hs256(secret: string, header: unknown, payload: unknown): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/**
 * Authorization header values for the fuzz test: tokens the api accepts (distinct users, with
 * the configured issuer and audience) and, labelled by kind, every sort it must refuse with a 401.
 */
export async function tokenPools(
  secret: string,
  issuer: string,
  audience: string,
): Promise<Pick<FuzzContext, 'validAuth' | 'invalidAuth'>> {
  const now = Math.floor(Date.now() / 1000);
  const exp = now + 3600;
  const key = createSecretKey(Buffer.from(secret));
  const claims = { sub: 'fuzz-user', iss: issuer, aud: audience, exp };
  const sign = (payload: Record<string, unknown>, alg = 'HS256', signingKey = key) =>
    new SignJWT(payload).setProtectedHeader({ alg }).sign(signingKey);
  const valid = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      mintToken(secret, `fuzz-user-${i}`, { issuer, audience, ttlSeconds: 3600 }),
    ),
  );
  const one = valid[0];
  const [h, p, s] = one.split('.');
  const tampered = `${h}.${p}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
  const other = createSecretKey(Buffer.from('another-secret-another-secret-another'));

  const invalid: [string, string | Promise<string>][] = [
    ['alg-none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`],
    ['alg-none', `${b64({ alg: 'NONE' })}.${b64(claims)}.${s}`],
    ['alg-none', `${b64({ alg: 'none' })}.${b64(claims)}`],
    ['wrong-key', sign(claims, 'HS256', other)],
    ['expired', sign({ ...claims, exp: now - 60 })],
    ['expired', sign({ ...claims, exp: 0 })],
    ['nbf-future', sign({ ...claims, nbf: now + 3600 })],
    ['no-exp', sign({ sub: 'fuzz-user', iss: issuer, aud: audience })],
    ['exp-not-number', sign({ ...claims, exp: 'tomorrow' })],
    ['wrong-issuer', sign({ ...claims, iss: 'https://evil.example' })],
    ['no-issuer', sign({ sub: 'fuzz-user', aud: audience, exp })],
    ['wrong-audience', sign({ ...claims, aud: 'someone-else' })],
    ['wrong-audience', sign({ ...claims, aud: [] })],
    ['no-subject', sign({ iss: issuer, aud: audience, exp })],
    ['alg-other', sign(claims, 'HS512')],
    ['alg-other', sign(claims, 'HS384')],
    ['alg-other', `${b64({ alg: 'RS256' })}.${b64(claims)}.${s}`],
    ['alg-other', `${b64({ alg: 'ES256' })}.${b64(claims)}.${s}`],
    ['alg-other', hs256(secret, { alg: 'hs256' }, claims)],
    ['alg-other', hs256(secret, { alg: '' }, claims)],
    ['alg-other', hs256(secret, { alg: 7 }, claims)],
    ['alg-other', hs256(secret, { alg: 'h\u00e9\r\n\u2603' }, claims)],
    ['alg-missing', hs256(secret, { typ: 'JWT' }, claims)],
    ['crit-header', hs256(secret, { alg: 'HS256', crit: ['x'], x: 1 }, claims)],
    ['tampered', tampered],
    ['tampered', `${h}.${b64({ ...claims, sub: 'someone-else' })}.${s}`],
    ['malformed', 'a.b.c'],
    ['malformed', '!!!.###.$$$'],
    ['malformed', 'x'],
    ['malformed', `${h}.${p}`],
    ['malformed', `${one}.${s}`],
    ['malformed', '..'],
    ['malformed', `${h}.${p}*.${s}`],
    ['malformed', `${one},${one}`],
    ['payload-not-object', hs256(secret, { alg: 'HS256' }, [1, 2])],
    ['payload-not-object', hs256(secret, { alg: 'HS256' }, 'null')],
    ['payload-not-object', hs256(secret, { alg: 'HS256' }, '"sub"')],
    ['payload-not-object', hs256(secret, { alg: 'HS256' }, '1')],
    ['payload-not-json', hs256(secret, { alg: 'HS256' }, 'not json')],
    ['header-not-object', hs256(secret, ['HS256'], claims)],
    ['header-not-json', `${b64('not json')}.${p}.${s}`],
    ['sub-not-string', sign({ ...claims, sub: 42 })],
    ['sub-not-string', sign({ ...claims, sub: { id: 'alice' } })],
    ['sub-not-string', sign({ ...claims, sub: ['alice'] })],
    ['sub-not-string', sign({ ...claims, sub: null })],
    ['sub-not-string', sign({ ...claims, sub: true })],
    ['sub-invalid', sign({ ...claims, sub: 'a'.repeat(65) })],
    ['sub-invalid', sign({ ...claims, sub: 'x'.repeat(3000) })],
    ['sub-invalid', sign({ ...claims, sub: '' })],
    ...['é', '☃', '😀', '\u0000', '\u2028'].map((c): [string, Promise<string>] => [
      'sub-invalid',
      sign({ ...claims, sub: `a${c}b` }),
    ]),
    ...FORBIDDEN_ASCII.map((c): [string, Promise<string>] => [
      'sub-invalid',
      sign({ ...claims, sub: `user${c}x` }),
    ]),
  ];
  const tokens = await Promise.all(invalid.map(async ([kind, t]) => ({ kind, value: `Bearer ${await t}` })));
  return {
    validAuth: valid.map((t) => `Bearer ${t}`),
    invalidAuth: [
      ...tokens,
      { kind: 'huge', value: `Bearer ${'a'.repeat(9000)}` },
      { kind: 'huge', value: `Bearer ${h}.${b64({ ...claims, pad: 'x'.repeat(7000) })}.${s}` },
      { kind: 'huge-over-header-limit', value: `Bearer ${'a'.repeat(20000)}` },
      { kind: 'not-bearer', value: 'Basic YWxpY2U6cHc=' },
      { kind: 'not-bearer', value: `Token ${one}` },
      { kind: 'not-bearer', value: one },
      { kind: 'not-bearer', value: 'Bearer' },
      { kind: 'not-bearer', value: `Bearer ${one} extra` },
      { kind: 'not-bearer', value: `Bearer  ${one}` },
      { kind: 'not-bearer', value: `Bearer\t${one}` },
      { kind: 'not-bearer', value: `Bearer=${one}` },
      { kind: 'empty', value: '' },
      { kind: 'non-ascii', value: `Bearer ${one}\u00e9` },
      { kind: 'non-ascii', value: `B\u00e9arer ${one}` },
    ],
  };
}
