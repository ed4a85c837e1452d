export { JwtVerifier, mintToken, TokenRejected } from './jwt';
export type { JwtOptions, Viewer } from './jwt';
