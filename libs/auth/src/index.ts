export { JwtVerifier, MAX_TOKEN_LENGTH, mintToken, TokenRejected } from './jwt';
export type { JwtOptions, Viewer } from './jwt';
