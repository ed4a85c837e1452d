import { createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { JwtVerifier, MAX_TOKEN_LENGTH, mintToken, TokenRejected } from '@doubletap/auth';

describe('JwtVerifier.knownViewer (the synchronous cache path of the bearer guard)', () => {
  const secret = 'unit-test-secret-unit-test-secret';
  const verifier = new JwtVerifier({ hs256Secret: secret });

  afterEach(() => jest.restoreAllMocks());

  it('knows only tokens that verifyHeader accepted, and only until they expire', async () => {
    const token = await mintToken(secret, 'user-1', { ttlSeconds: 60 });
    expect(verifier.knownViewer(`Bearer ${token}`)).toBeUndefined();
    const viewer = await verifier.verifyHeader(`Bearer ${token}`);
    expect(viewer.userId).toBe('user-1');
    expect(verifier.knownViewer(`Bearer ${token}`)).toBe(viewer);
    expect(verifier.knownViewer(`  bearer ${token} `)).toBe(viewer); // same parsing as verifyHeader
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + 61_000);
    expect(verifier.knownViewer(`Bearer ${token}`)).toBeUndefined();
  });

  it('does not know a changed token, a malformed header or no header (verifyHeader says why)', async () => {
    const token = await mintToken(secret, 'user-2');
    await verifier.verifyHeader(`Bearer ${token}`);
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const header of [`Bearer ${forged}`, `Token ${token}`, `Bearer ${token} x`, '', undefined]) {
      expect(verifier.knownViewer(header)).toBeUndefined();
      await expect(verifier.verifyHeader(header)).rejects.toBeInstanceOf(TokenRejected);
    }
  });
});

describe('JwtVerifier rejections say why, briefly, whatever the token holds', () => {
  const secret = 'unit-test-secret-unit-test-secret';
  const verifier = new JwtVerifier({
    hs256Secret: secret,
    issuer: 'https://id.example',
    audience: 'doubletap',
  });
  const key = createSecretKey(Buffer.from(secret));
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const exp = () => Math.floor(Date.now() / 1000) + 600;
  const signed = (claims: Record<string, unknown>, sub?: string) => {
    let jwt = new SignJWT({
      iss: 'https://id.example',
      aud: 'doubletap',
      exp: exp(),
      ...claims,
    }).setProtectedHeader({
      alg: 'HS256',
    });
    if (sub !== undefined) jwt = jwt.setSubject(sub);
    return jwt.sign(key);
  };
  const reason = async (token: string) => {
    try {
      await verifier.verify(token);
    } catch (e) {
      expect(e).toBeInstanceOf(TokenRejected);
      return (e as Error).message;
    }
    throw new Error('accepted');
  };

  it('refuses an over-long token before decoding it', async () => {
    expect(await reason('a'.repeat(MAX_TOKEN_LENGTH + 1))).toBe(
      `the bearer token is ${MAX_TOKEN_LENGTH + 1} characters long; the limit is ${MAX_TOKEN_LENGTH}`,
    );
  });

  it('quotes and cuts what the token says about its algorithm and subject', async () => {
    expect(await reason(`${b64({ alg: 'none' })}.${b64({ sub: 'a', exp: exp() })}.`)).toBe(
      'token algorithm none is not accepted (accepted: HS256)',
    );
    expect(await reason(`${b64({ alg: 'h\u00e9\r\nx' })}.${b64({})}.c2ln`)).toBe(
      'token algorithm "hé\\r\\nx" is not accepted (accepted: HS256)',
    );
    expect(await reason(`${b64({ alg: 7 })}.${b64({})}.c2ln`)).toBe(
      'token algorithm 7 (a number) is not accepted (accepted: HS256)',
    );
    expect(await reason(await signed({ sub: 42 }))).toBe(
      'token subject 42 (a number) is not a valid user id (/^[A-Za-z0-9_-]{1,64}$/)',
    );
    expect(await reason(await signed({ sub: { id: 'x'.repeat(500) } }))).toMatch(
      /^token subject \{"id":"x{57}\.\.\. \(509 characters\) \(an object\) is not a valid user id/,
    );
    expect(await reason(await signed({}, 'a'.repeat(65)))).toMatch(
      /^token subject "a{64}"\.\.\. \(65 characters\)/,
    );
  });

  it('names the claim for issuer, audience and time problems', async () => {
    expect(await reason(await signed({ iss: 'https://evil.example' }, 'alice'))).toMatch(
      /^token claim iss is invalid/,
    );
    expect(await reason(await signed({ aud: 'someone-else' }, 'alice'))).toMatch(
      /^token claim aud is invalid/,
    );
    expect(await reason(await signed({ nbf: exp() }, 'alice'))).toMatch(/^token claim nbf is invalid/);
    expect(await reason(`${b64({ alg: 'HS256' })}.${b64([1, 2])}.c2ln`)).toMatch(
      /^malformed token|^token signature/,
    );
    expect(await reason('not-base64!.x.y')).toBe('the bearer token is not a JWT');
  });

  it('accepts only the exact signed text: no extra or non-canonical characters in the signature', async () => {
    const token = await mintToken(secret, 'alice', { issuer: 'https://id.example', audience: 'doubletap' });
    expect((await verifier.verify(token)).userId).toBe('alice');
    // 32 signature bytes take 43 base64url characters, whose last 2 bits are unused: flipping the
    // lowest bit of the last character gives another spelling of the same bytes
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = token.slice(0, -1) + ALPHABET[ALPHABET.indexOf(token.slice(-1)) ^ 1];
    const sig = (t: string) => Buffer.from(t.slice(t.lastIndexOf('.') + 1), 'base64url');
    expect(sig(twin).equals(sig(token))).toBe(true);
    const variants = [`${token}\u00e9`, `${token}*`, `${token}=`, token.replace(/\.([^.]*)$/, '.*$1'), twin];
    for (const v of variants) {
      const why = await reason(v);
      expect({ v: v.slice(-3), why }).toEqual({
        v: v.slice(-3),
        why: expect.stringMatching(
          /^the bearer token is not a JWT$|^token signature is not canonical base64url$/,
        ),
      });
    }
  });
});
