import { createSecretKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors, importSPKI, jwtVerify, SignJWT } from 'jose';
import { ID_PATTERN } from '@doubletap/events';

/**
 * Bearer JWTs: HS256 with the configured secret, and RS256 with a public key when one is
 * configured. The viewer is the token's `sub`. Every rejection carries a precise reason (it becomes
 * the `detail` of a 401) and never echoes the token.
 */
export class TokenRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenRejected';
  }
}

const BEARER = /^Bearer ([^\s]+)$/i;
/**
 * Longer tokens are refused before any decoding or signature work. Ours are about 200 characters;
 * an identity provider's with many claims stay well under 4 KiB.
 */
export const MAX_TOKEN_LENGTH = 8192;
/** Compact JWS: three base64url parts (the signature may be empty, so alg=none is named as such). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface JwtOptions {
  hs256Secret: string;
  rs256PublicKey?: string;
  issuer?: string;
  audience?: string;
}

export interface Viewer {
  userId: string;
  expiresAt?: number;
}

export class JwtVerifier {
  private readonly hsKey: KeyObject;
  private rsKey?: Promise<KeyObject>;

  constructor(private readonly options: JwtOptions) {
    this.hsKey = createSecretKey(Buffer.from(options.hs256Secret, 'utf8'));
    if (options.rs256PublicKey) this.rsKey = importSPKI<KeyObject>(options.rs256PublicKey, 'RS256');
  }

  get algorithms(): string[] {
    return this.rsKey ? ['HS256', 'RS256'] : ['HS256'];
  }

  /** Parses an Authorization header value; throws TokenRejected with the reason. */
  async verifyHeader(header: string | undefined): Promise<Viewer> {
    if (header === undefined || header.trim() === '')
      throw new TokenRejected('missing bearer token (send Authorization: Bearer <jwt>)');
    const match = BEARER.exec(header.trim());
    if (!match) throw new TokenRejected("the Authorization header must be 'Bearer <jwt>'");
    return this.verify(match[1]);
  }

  /**
   * Synchronously, the viewer of an Authorization header whose token was already verified and has
   * not expired; undefined otherwise (then {@link verifyHeader} verifies it or says why not).
   */
  knownViewer(header: string | undefined): Viewer | undefined {
    if (header === undefined) return undefined;
    // the common form first, without the regular expression: a cached token never contains
    // whitespace, so `Bearer <token>` finds it here exactly when BEARER would have matched it
    let known = header.startsWith('Bearer ') ? this.cache.get(header.slice(7)) : undefined;
    if (!known) {
      const match = BEARER.exec(header.trim());
      if (!match) return undefined;
      known = this.cache.get(match[1]);
    }
    return known && known.expiresAt !== undefined && known.expiresAt * 1000 > Date.now() ? known : undefined;
  }

  /**
   * Verified tokens are remembered (bounded, until their exp) so a client's repeated requests skip
   * the signature check; the cache key is the whole token, so a changed byte is verified afresh.
   */
  private readonly cache = new Map<string, Viewer>();
  private static readonly CACHE_MAX = 50_000;

  async verify(token: string): Promise<Viewer> {
    const known = this.cache.get(token);
    if (known && known.expiresAt !== undefined && known.expiresAt * 1000 > Date.now()) return known;
    if (known) this.cache.delete(token);
    const viewer = await this.verifyUncached(token);
    if (this.cache.size >= JwtVerifier.CACHE_MAX) this.cache.clear();
    this.cache.set(token, viewer);
    return viewer;
  }

  private async verifyUncached(token: string): Promise<Viewer> {
    if (token.length > MAX_TOKEN_LENGTH)
      throw new TokenRejected(
        `the bearer token is ${token.length} characters long; the limit is ${MAX_TOKEN_LENGTH}`,
      );
    // jose decodes base64url leniently: a signature with extra characters (é, *, =) or other
    // trailing bits decodes to the same bytes and verifies; only the exact signed text is a token
    if (!COMPACT_JWS.test(token)) throw new TokenRejected('the bearer token is not a JWT');
    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new TokenRejected('the bearer token is not a JWT');
    }
    const allowed = this.algorithms;
    if (typeof alg !== 'string' || !allowed.includes(alg))
      throw new TokenRejected(
        `token algorithm ${alg === undefined ? '(none)' : describe(alg, true)} is not accepted (accepted: ${allowed.join(', ')})`,
      );
    const signature = token.slice(token.lastIndexOf('.') + 1);
    if (Buffer.from(signature, 'base64url').toString('base64url') !== signature)
      throw new TokenRejected('token signature is not canonical base64url');
    const key = alg === 'RS256' ? await this.rsKey! : this.hsKey;
    let sub: unknown;
    let exp: number | undefined;
    try {
      const { payload } = await jwtVerify(token, key, {
        algorithms: [alg],
        issuer: this.options.issuer,
        audience: this.options.audience,
        requiredClaims: ['sub', 'exp'],
      });
      sub = payload.sub;
      exp = payload.exp;
    } catch (e) {
      throw new TokenRejected(reason(e));
    }
    if (typeof sub !== 'string' || !ID_PATTERN.test(sub))
      throw new TokenRejected(
        `token subject ${describe(sub)} is not a valid user id (${String(ID_PATTERN)})`,
      );
    return { userId: sub, expiresAt: exp };
  }
}

/**
 * A value from a token, for a rejection message: JSON-quoted (with its type when not a string)
 * and cut to 64 characters, so a hostile token cannot make the message (and the WWW-Authenticate
 * header built from it) long; with `bareNames`, a plain name (none, HS512) as it is.
 */
function describe(value: unknown, bareNames = false): string {
  if (bareNames && typeof value === 'string' && /^[A-Za-z0-9._-]{1,32}$/.test(value)) return value;
  if (typeof value === 'string')
    return value.length > 64
      ? `${JSON.stringify(value.slice(0, 64))}... (${value.length} characters)`
      : JSON.stringify(value);
  const json = JSON.stringify(value) ?? String(value);
  const text = json.length > 64 ? `${json.slice(0, 64)}... (${json.length} characters)` : json;
  const type = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
  return `${text} (${type.replace(/^a (?=[aeiou])/, 'an ')})`;
}

function reason(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'token expired';
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'token signature is invalid';
  if (e instanceof errors.JWTClaimValidationFailed) return `token claim ${e.claim} is invalid: ${e.message}`;
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid)
    return `malformed token: ${e.message}`;
  if (e instanceof errors.JOSEAlgNotAllowed) return `token algorithm is not accepted: ${e.message}`;
  return `token rejected: ${e instanceof Error ? e.message : String(e)}`;
}

/** Mints an HS256 token for a user (dev tools, load tests). */
export async function mintToken(
  secret: string,
  userId: string,
  options: { ttlSeconds?: number; issuer?: string; audience?: string } = {},
): Promise<string> {
  if (!ID_PATTERN.test(userId)) throw new Error(`user id ${userId} does not match ${String(ID_PATTERN)}`);
  let jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600));
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(createSecretKey(Buffer.from(secret, 'utf8')));
}
