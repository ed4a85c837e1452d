import { JwtVerifier, mintToken, TokenRejected } from '@doubletap/auth';

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
