import { problemType, type ProblemSlug } from '@doubletap/problems';

/** One backend server of the load balancer: an api replica. */
export interface BalancerServer {
  /** HAProxy's name for it, shown in the stats (`api-1`) */
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** Health checks of the servers: HTTP GET of `path`, 200 = ready. */
export interface BalancerChecks {
  /** default /ready (503 while a replica cannot serve: libs/runtime) */
  readonly path?: string;
  /** ms between two checks, UP or DOWN (default 500) */
  readonly intervalMs?: number;
  /** failed checks in a row before a server is DOWN (default 2) */
  readonly fall?: number;
  /** passed checks in a row before a DOWN server is UP again (default 1) */
  readonly rise?: number;
  /** one check's timeout, ms (default 1000) */
  readonly timeoutMs?: number;
}

/** Timeouts, ms. A timeout is inactivity in one direction, not a request's duration. */
export interface BalancerTimeouts {
  /** TCP connect to a server (default 2000; a refused connect is retried on another server) */
  readonly connectMs?: number;
  /** the client side (default 1 h: an SSE client sends nothing for as long as its stream lasts) */
  readonly clientMs?: number;
  /** a server's answer to an ordinary request (default 30 s) */
  readonly serverMs?: number;
  /** a server's silence on a live stream, SSE paths (default 1 h; the api sends a heartbeat every 15 s) */
  readonly streamMs?: number;
  /** the whole request head from a client (default 10 s: slow clients) */
  readonly httpRequestMs?: number;
  /** an idle keep-alive client connection (default 10 s) */
  readonly keepAliveMs?: number;
  /** waiting in the queue for a free slot of a replica (default 1 s; then 503 `overloaded`: BalancerShedding) */
  readonly queueMs?: number;
}

/**
 * Past capacity (docs/adr/0022-haproxy-sheds-past-capacity.md): each api replica gets at most
 * `maxConnPerServer` requests at once; a request finding every slot taken waits in HAProxy's queue,
 * unless `maxQueue` requests wait already, then it is refused at once; one still waiting after
 * `timeouts.queueMs` is refused then. A refusal is a 503 `overloaded` problem (application/problem+json,
 * Retry-After) like the api's own (admission control, ADR 0011): nothing was forwarded, so nothing
 * was written. SSE streams are not counted: they go to a backend of their own.
 */
export interface BalancerShedding {
  /** requests in flight per api replica, streams apart (the servers' `maxconn`; default 32; 0: no limit, no queue, no shedding) */
  readonly maxConnPerServer?: number;
  /** requests waiting for a slot (the whole backend) at which a new one is refused at once (default 16; 0: refused whenever every slot is taken) */
  readonly maxQueue?: number;
  /** the Retry-After of a refusal, seconds (default 1, as the api's ADMISSION_RETRY_AFTER_MS) */
  readonly retryAfterSeconds?: number;
}

export interface HaproxyConfigOptions {
  /** where clients connect: the public address (API_HOST:API_PORT) */
  readonly listen: { readonly host: string; readonly port: number };
  /** the stats page (`/stats`, CSV at `/stats;csv`) and Prometheus `/metrics`, on their own port */
  readonly stats: { readonly host: string; readonly port: number };
  readonly servers: readonly BalancerServer[];
  readonly checks?: BalancerChecks;
  readonly timeouts?: BalancerTimeouts;
  readonly shedding?: BalancerShedding;
  /** requests whose path ends with one of these are live streams (default ['/stream']) */
  readonly streamPathSuffixes?: readonly string[];
  /** HAProxy's process-wide connection limit (default 4096: it needs 2 file descriptors per connection, and `ulimit -n` is often 20000 or less) */
  readonly maxconn?: number;
  /** worker threads (default 1: the apps need the cores more than the balancer) */
  readonly threads?: number;
  /** the name of the frontend and backend (default api) */
  readonly name?: string;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const HOST = /^[A-Za-z0-9_.:-]{1,255}$/;
const PATH = /^\/[A-Za-z0-9_.~/-]*$/;

/** `host:port` as HAProxy reads an address (IPv6 with the ipv6@ prefix). */
export function haproxyAddress(host: string, port: number): string {
  return host.includes(':') ? `ipv6@${host}:${port}` : `${host}:${port}`;
}

function checkPort(what: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`${what}: port ${port} is not 1..65535`);
}

function checkHost(what: string, host: string): void {
  if (!HOST.test(host)) throw new Error(`${what}: host '${host}' is not a plain host name or IP address`);
}

function positive(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${what} must be a positive integer (got ${value})`);
  return value;
}

function nonNegative(what: string, value: number): number {
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${what} must be a non-negative integer (got ${value})`);
  return value;
}

/**
 * An RFC 9457 problem as an HAProxy log-format string (for `lf-string`): the api's fields, `instance`
 * being the request's path (JSON-escaped by HAProxy). Single-quoted in the config, so it must hold no
 * single quote; `%` is doubled (log-format).
 */
function problemFormat(
  slug: Extract<ProblemSlug, 'overloaded' | 'unavailable'>,
  detail: string,
  extensions: Record<string, string | number>,
): string {
  const literal = (json: string) => {
    if (json.includes("'")) throw new Error(`a problem text must not hold a single quote: ${json}`);
    return json.replaceAll('%', '%%');
  };
  const head = literal(
    JSON.stringify({ type: problemType(slug), title: 'Service Unavailable', status: 503, detail }),
  );
  const tail = literal(JSON.stringify(extensions));
  return `'${head.slice(0, -1)},"instance":"%[path,json(utf8s)]",${tail.slice(1)}'`;
}

/**
 * The HAProxy configuration of the api tier: one frontend on `listen`, one backend balancing the
 * api replicas by least connections, each checked with `GET /ready` (only 200 is ready) every
 * 500 ms, DOWN after 2 failures and UP again after 1 pass. A failed connect, an empty answer or a
 * 503 is retried once on another server (a replica killed between two checks, or draining, costs
 * no request). Past capacity it sheds (ADR 0022): at most 32 requests in flight per replica, 16
 * waiting for a slot at most and for 1 s at most; beyond that a fast 503 `overloaded` problem with
 * Retry-After, as the api's own admission control answers. SSE-safe: stream paths go to a backend
 * of their own on the same replicas (a stream would hold a request slot for as long as it lasts),
 * with long timeouts; responses are forwarded as they come (no compression, no buffering), and the
 * client timeout is long. docs/adr/0016-haproxy-load-balancer.md gives the reasons.
 */
export function haproxyConfig(options: HaproxyConfigOptions): string {
  const name = options.name ?? 'api';
  if (!NAME.test(name)) throw new Error(`balancer name '${name}' must match ${String(NAME)}`);
  checkHost('listen', options.listen.host);
  checkPort('listen', options.listen.port);
  checkHost('stats', options.stats.host);
  checkPort('stats', options.stats.port);
  if (options.stats.port === options.listen.port && options.stats.host === options.listen.host)
    throw new Error(`the stats listener needs its own port (both are ${options.listen.port})`);
  if (options.servers.length === 0) throw new Error('the balancer needs at least one server');
  const seen = new Set<string>();
  for (const s of options.servers) {
    if (!NAME.test(s.name)) throw new Error(`server name '${s.name}' must match ${String(NAME)}`);
    if (seen.has(s.name)) throw new Error(`server name '${s.name}' is used twice`);
    seen.add(s.name);
    checkHost(`server ${s.name}`, s.host);
    checkPort(`server ${s.name}`, s.port);
  }
  const c = options.checks ?? {};
  const checkPath = c.path ?? '/ready';
  if (!PATH.test(checkPath)) throw new Error(`health check path '${checkPath}' is not a plain path`);
  const inter = positive('checks.intervalMs', c.intervalMs ?? 500);
  const fall = positive('checks.fall', c.fall ?? 2);
  const rise = positive('checks.rise', c.rise ?? 1);
  const checkTimeout = positive('checks.timeoutMs', c.timeoutMs ?? 1000);
  const t = options.timeouts ?? {};
  const ms = (what: string, value: number) => `${positive(`timeouts.${what}`, value)}ms`;
  const suffixes = options.streamPathSuffixes ?? ['/stream'];
  for (const s of suffixes)
    if (!PATH.test(s)) throw new Error(`stream path suffix '${s}' is not a plain path`);
  const streamMs = ms('streamMs', t.streamMs ?? 3_600_000);
  const queueMs = positive('timeouts.queueMs', t.queueMs ?? 1000);
  const sh = options.shedding ?? {};
  const perServer = nonNegative('shedding.maxConnPerServer', sh.maxConnPerServer ?? 32);
  const maxQueue = nonNegative('shedding.maxQueue', sh.maxQueue ?? 16);
  const retryAfter = positive('shedding.retryAfterSeconds', sh.retryAfterSeconds ?? 1);
  const streams = `${name}-streams`;
  const refusal = (slug: 'overloaded' | 'unavailable', reason: string, detail: string) =>
    `content-type application/problem+json hdr retry-after ${retryAfter} hdr cache-control no-store lf-string ${problemFormat(
      slug,
      `${detail}; nothing was written, retry after ${retryAfter * 1000} ms`,
      slug === 'overloaded' ? { reason, retryAfterMs: retryAfter * 1000 } : { reason },
    )}`;

  const lines = [
    '# generated by libs/balancer (haproxyConfig): do not edit, it is written anew at every start',
    `# doubletap-balancer listen=${haproxyAddress(options.listen.host, options.listen.port)} stats=http://${haproxyAddress(options.stats.host, options.stats.port)}/stats`,
    // no log section: requests are not logged; HAProxy in the foreground (startHaproxy) writes
    // its warnings and server state changes ("Server api/api-2 is DOWN") on stderr
    'global',
    `    maxconn ${positive('maxconn', options.maxconn ?? 4096)}`,
    `    nbthread ${positive('threads', options.threads ?? 1)}`,
    // a soft stop (SIGUSR1) lets requests in flight finish, but never waits on streams for long
    '    hard-stop-after 10s',
    '',
    'defaults',
    '    mode http',
    // keep-alive on both sides, idle server connections pooled and reused (HAProxy's default,
    // stated): 2.6x the requests/s of http-server-close here, where every request cost the replica
    // a new TCP connection. leastconn counts requests and streams in flight, not idle connections.
    // The api's keep-alive timeout (72 s) outlives HAProxy's idle pool (purged every 5 s)
    '    option http-keep-alive',
    '    http-reuse safe',
    '    option forwardfor',
    // once, on another server: a failed connect or a connection closed without an answer (a
    // replica just killed, a pooled connection closed under the request), and a 503 (the api
    // answers it before writing anything: shutting down, overloaded, Kafka unreachable)
    '    retries 1',
    '    option redispatch 1',
    '    retry-on conn-failure empty-response junk-response 503',
    `    timeout connect ${ms('connectMs', t.connectMs ?? 2000)}`,
    `    timeout client ${ms('clientMs', t.clientMs ?? 3_600_000)}`,
    `    timeout server ${ms('serverMs', t.serverMs ?? 30_000)}`,
    `    timeout tunnel ${streamMs}`,
    `    timeout http-request ${ms('httpRequestMs', t.httpRequestMs ?? 10_000)}`,
    `    timeout http-keep-alive ${ms('keepAliveMs', t.keepAliveMs ?? 10_000)}`,
    `    timeout queue ${queueMs}ms`,
    `    timeout check ${checkTimeout}ms`,
    '',
    `frontend ${name}`,
    `    bind ${haproxyAddress(options.listen.host, options.listen.port)}`,
    // live streams (SSE) have a backend of their own: a stream holds its server connection for as
    // long as a viewer watches, so counted against the replicas' request slots it would starve them
    `    acl is_stream path_end ${suffixes.join(' ')}`,
    `    use_backend ${streams} if is_stream`,
    `    default_backend ${name}`,
    '',
    `backend ${name}`,
    '    balance leastconn',
    `    option httpchk GET ${checkPath}`,
    '    http-check expect status 200',
    // no replica is up: nothing can be forwarded (without this the queue timeout would answer)
    `    http-request return status 503 ${refusal('unavailable', 'balancer-no-server', 'no api replica is up')} if { nbsrv() eq 0 }`,
    ...(perServer > 0
      ? [
          // past capacity: every replica has maxconn requests in flight and maxQueue wait already
          `    http-request return status 503 ${refusal('overloaded', 'balancer-queue', `every api replica has ${perServer} requests in flight and ${maxQueue} more wait: the balancer refused this one without forwarding it`)} if { queue() ge ${maxQueue} }`,
        ]
      : []),
    // HAProxy's own 503: the request waited timeout queue for a slot, or could not be sent at all
    `    http-error status 503 ${refusal('overloaded', 'balancer-queue-timeout', `no api replica took the request within ${queueMs} ms (timeout queue): the balancer did not forward it`)}`,
    `    default-server check inter ${inter}ms fastinter ${inter}ms downinter ${inter}ms fall ${fall} rise ${rise}${perServer > 0 ? ` maxconn ${perServer}` : ''}`,
    ...options.servers.map((s) => `    server ${s.name} ${haproxyAddress(s.host, s.port)}`),
    '',
    // the same replicas for streams, up and down as in the backend above (track: no second check)
    `backend ${streams}`,
    '    balance leastconn',
    // the server may be silent between events for much longer than a request takes
    `    timeout server ${streamMs}`,
    `    timeout tunnel ${streamMs}`,
    `    http-request return status 503 ${refusal('unavailable', 'balancer-no-server', 'no api replica is up')} if { nbsrv() eq 0 }`,
    ...options.servers.map(
      (s) => `    server ${s.name} ${haproxyAddress(s.host, s.port)} track ${name}/${s.name}`,
    ),
    '',
    'frontend stats',
    `    bind ${haproxyAddress(options.stats.host, options.stats.port)}`,
    '    http-request use-service prometheus-exporter if { path /metrics }',
    '    stats enable',
    '    stats uri /stats',
    '    stats refresh 5s',
    '',
  ];
  return lines.join('\n');
}
