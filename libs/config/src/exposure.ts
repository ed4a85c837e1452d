import { BlockList, isIPv4, isIPv6 } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6'); // BlockList also matches IPv4-mapped ::ffff:127.x.y.z here

/**
 * Whether a listen address is reachable only from this machine: 127.0.0.0/8, ::1 (in any
 * spelling, and IPv4-mapped ::ffff:127.x.y.z) and the name localhost. Everything else counts as
 * exposed, including 0.0.0.0 and :: (every interface) and any other name, since a name can
 * resolve to anything.
 */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h === 'localhost') return true;
  if (isIPv4(h)) return LOOPBACK.check(h, 'ipv4');
  if (isIPv6(h)) return LOOPBACK.check(h, 'ipv6');
  return false;
}

/**
 * GET /dev/token mints a token for any user id with the configured secret, so it exists only for
 * local development: NODE_ENV=development (the default when unset) and an api bound to loopback.
 */
export function devTokenEnabled(settings: {
  readonly env: string;
  readonly api: { readonly host: string };
}): boolean {
  return settings.env === 'development' && isLoopbackHost(settings.api.host);
}
