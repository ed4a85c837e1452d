import { haproxyConfig, type HaproxyConfigOptions } from './config';

const base: HaproxyConfigOptions = {
  listen: { host: '127.0.0.1', port: 8080 },
  stats: { host: '127.0.0.1', port: 8084 },
  servers: [
    { name: 'api-1', host: '127.0.0.1', port: 8090 },
    { name: 'api-2', host: '127.0.0.1', port: 8100 },
  ],
};

/** the lines of one section (`backend api`), trimmed */
function section(config: string, head: string): string[] {
  const lines = config.split('\n');
  const start = lines.indexOf(head);
  expect(start).toBeGreaterThanOrEqual(0);
  const out: string[] = [];
  for (const l of lines.slice(start + 1)) {
    if (!l.startsWith(' ')) break;
    out.push(l.trim());
  }
  return out;
}

describe('haproxyConfig', () => {
  it('balances the api replicas by least connections, checked on GET /ready (200) every 500 ms, down after 2, up after 1', () => {
    const backend = section(haproxyConfig(base), 'backend api');
    expect(backend).toContain('balance leastconn');
    expect(backend).toContain('option httpchk GET /ready');
    expect(backend).toContain('http-check expect status 200');
    expect(backend).toContain(
      'default-server check inter 500ms fastinter 500ms downinter 500ms fall 2 rise 1 maxconn 32',
    );
    expect(backend).toContain('server api-1 127.0.0.1:8090');
    expect(backend).toContain('server api-2 127.0.0.1:8100');
  });

  it('is SSE-safe: stream paths go to a backend of their own with long timeouts, a long client timeout, keep-alive, no compression', () => {
    const config = haproxyConfig(base);
    const defaults = section(config, 'defaults');
    expect(defaults).toContain('mode http');
    expect(defaults).toEqual(expect.arrayContaining(['option http-keep-alive', 'http-reuse safe']));
    expect(defaults).toContain('timeout client 3600000ms');
    expect(defaults).toContain('timeout server 30000ms');
    expect(defaults).toContain('timeout tunnel 3600000ms');
    expect(defaults).not.toContain('option httpclose');
    const frontend = section(config, 'frontend api');
    expect(frontend).toContain('acl is_stream path_end /stream');
    expect(frontend).toContain('use_backend api-streams if is_stream');
    // the streams' backend: the same replicas, their state tracked (no second check), no maxconn
    const streams = section(config, 'backend api-streams');
    expect(streams).toEqual(
      expect.arrayContaining([
        'balance leastconn',
        'timeout server 3600000ms',
        'timeout tunnel 3600000ms',
        'server api-1 127.0.0.1:8090 track api/api-1',
        'server api-2 127.0.0.1:8100 track api/api-2',
      ]),
    );
    expect(streams.join('\n')).not.toMatch(/maxconn|queue\(|check/);
    expect(config).not.toMatch(/compression|http-buffer-request|option httpclose|http-server-close/);
  });

  it('retries a failed connect, an empty answer or a 503 once, on another server', () => {
    const defaults = section(haproxyConfig(base), 'defaults');
    expect(defaults).toEqual(
      expect.arrayContaining([
        'retries 1',
        'option redispatch 1',
        'retry-on conn-failure empty-response junk-response 503',
      ]),
    );
  });

  it('listens on the public port, with a stats page (CSV) and Prometheus metrics on their own port', () => {
    const config = haproxyConfig(base);
    expect(section(config, 'frontend api')).toEqual([
      'bind 127.0.0.1:8080',
      'acl is_stream path_end /stream',
      'use_backend api-streams if is_stream',
      'default_backend api',
    ]);
    const stats = section(config, 'frontend stats');
    expect(stats).toContain('bind 127.0.0.1:8084');
    expect(stats).toContain('stats uri /stats');
    expect(stats).toContain('http-request use-service prometheus-exporter if { path /metrics }');
    expect(config).toContain('# doubletap-balancer listen=127.0.0.1:8080 stats=http://127.0.0.1:8084/stats');
  });

  it('takes other checks, timeouts, stream paths and IPv6 addresses', () => {
    const config = haproxyConfig({
      ...base,
      listen: { host: '::1', port: 9000 },
      servers: [{ name: 'a', host: '::1', port: 9010 }],
      checks: { path: '/health', intervalMs: 200, fall: 3, rise: 2, timeoutMs: 300 },
      timeouts: { serverMs: 5000, streamMs: 60_000, clientMs: 70_000 },
      streamPathSuffixes: ['/stream', '/events'],
      threads: 2,
      name: 'edge',
    });
    const backend = section(config, 'backend edge');
    expect(backend).toContain('option httpchk GET /health');
    expect(backend).toContain(
      'default-server check inter 200ms fastinter 200ms downinter 200ms fall 3 rise 2 maxconn 32',
    );
    expect(section(config, 'frontend edge')).toContain('acl is_stream path_end /stream /events');
    expect(section(config, 'frontend edge')).toContain('use_backend edge-streams if is_stream');
    expect(section(config, 'backend edge-streams')).toEqual(
      expect.arrayContaining(['timeout server 60000ms', 'server a ipv6@::1:9010 track edge/a']),
    );
    expect(backend).toContain('server a ipv6@::1:9010');
    expect(section(config, 'frontend edge')).toContain('bind ipv6@::1:9000');
    expect(section(config, 'defaults')).toEqual(
      expect.arrayContaining(['timeout server 5000ms', 'timeout client 70000ms', 'timeout check 300ms']),
    );
    expect(section(config, 'global')).toContain('nbthread 2');
  });

  it('refuses what HAProxy would misread or what cannot work', () => {
    expect(() => haproxyConfig({ ...base, servers: [] })).toThrow('at least one server');
    expect(() => haproxyConfig({ ...base, servers: [base.servers[0], base.servers[0]] })).toThrow(
      "'api-1' is used twice",
    );
    expect(() => haproxyConfig({ ...base, servers: [{ name: 'a b', host: '127.0.0.1', port: 1 }] })).toThrow(
      'server name',
    );
    expect(() =>
      haproxyConfig({ ...base, servers: [{ name: 'a', host: '127.0.0.1\n listen x', port: 1 }] }),
    ).toThrow('host');
    expect(() => haproxyConfig({ ...base, stats: base.listen })).toThrow('its own port');
    expect(() => haproxyConfig({ ...base, listen: { host: '127.0.0.1', port: 70000 } })).toThrow('1..65535');
    expect(() => haproxyConfig({ ...base, checks: { path: '/ready; x' } })).toThrow('plain path');
    expect(() => haproxyConfig({ ...base, checks: { fall: 0 } })).toThrow('checks.fall');
    expect(() => haproxyConfig({ ...base, timeouts: { streamMs: 1.5 } })).toThrow('timeouts.streamMs');
    expect(() => haproxyConfig({ ...base, timeouts: { queueMs: 0 } })).toThrow('timeouts.queueMs');
    expect(() => haproxyConfig({ ...base, shedding: { maxConnPerServer: -1 } })).toThrow(
      'shedding.maxConnPerServer',
    );
    expect(() => haproxyConfig({ ...base, shedding: { maxQueue: 0.5 } })).toThrow('shedding.maxQueue');
    expect(() => haproxyConfig({ ...base, shedding: { retryAfterSeconds: 0 } })).toThrow(
      'shedding.retryAfterSeconds',
    );
  });
  describe('past capacity (ADR 0022)', () => {
    /** the problem document of an `lf-string '...'` rule, as HAProxy would send it for `path` */
    const problemOf = (line: string, path = '/v1/posts/p1/likes') => {
      const m = /lf-string '([^']*)'/.exec(line);
      expect(m).not.toBeNull();
      const text = m![1].replace('%[path,json(utf8s)]', path).replaceAll('%%', '%');
      return JSON.parse(text) as Record<string, unknown>;
    };
    const headersOf = (line: string) => ({
      contentType: /content-type (\S+)/.exec(line)?.[1],
      retryAfter: /hdr retry-after (\S+)/.exec(line)?.[1],
    });

    it('bounds the requests in flight per replica (maxconn 32), refuses at once when 16 wait, and after 1 s in the queue', () => {
      const config = haproxyConfig(base);
      expect(section(config, 'defaults')).toContain('timeout queue 1000ms');
      const backend = section(config, 'backend api');
      expect(backend).toContain(
        'default-server check inter 500ms fastinter 500ms downinter 500ms fall 2 rise 1 maxconn 32',
      );
      const full = backend.find((l) => l.endsWith('if { queue() ge 16 }'));
      expect(full).toMatch(/^http-request return status 503 /);
      expect(headersOf(full!)).toEqual({ contentType: 'application/problem+json', retryAfter: '1' });
      expect(problemOf(full!)).toEqual({
        type: 'https://doubletap.dev/problems/overloaded',
        title: 'Service Unavailable',
        status: 503,
        detail: expect.stringMatching(
          /32 requests in flight and 16 more wait.*nothing was written, retry after 1000 ms$/,
        ),
        instance: '/v1/posts/p1/likes',
        reason: 'balancer-queue',
        retryAfterMs: 1000,
      });
      // HAProxy's own 503 (the queue timeout) is the same problem
      const timedOut = backend.find((l) => l.startsWith('http-error status 503 '));
      expect(headersOf(timedOut!)).toEqual({ contentType: 'application/problem+json', retryAfter: '1' });
      expect(problemOf(timedOut!)).toMatchObject({
        type: 'https://doubletap.dev/problems/overloaded',
        status: 503,
        detail: expect.stringContaining('within 1000 ms (timeout queue)'),
        reason: 'balancer-queue-timeout',
        retryAfterMs: 1000,
      });
      // no replica up: unavailable, at once, in both backends
      for (const b of ['backend api', 'backend api-streams']) {
        const none = section(config, b).find((l) => l.endsWith('if { nbsrv() eq 0 }'));
        expect(problemOf(none!)).toMatchObject({
          type: 'https://doubletap.dev/problems/unavailable',
          status: 503,
          reason: 'balancer-no-server',
        });
      }
      // the rules come before the servers, the queue rule after the no-server one
      expect(backend.findIndex((l) => l.includes('nbsrv()'))).toBeLessThan(
        backend.findIndex((l) => l.includes('queue()')),
      );
    });

    it('takes other limits; maxConnPerServer 0 is the unbounded balancer (no maxconn, no queue rule)', () => {
      const config = haproxyConfig({
        ...base,
        shedding: { maxConnPerServer: 8, maxQueue: 0, retryAfterSeconds: 3 },
        timeouts: { queueMs: 250 },
      });
      const backend = section(config, 'backend api');
      expect(section(config, 'defaults')).toContain('timeout queue 250ms');
      expect(backend).toContain(
        'default-server check inter 500ms fastinter 500ms downinter 500ms fall 2 rise 1 maxconn 8',
      );
      const full = backend.find((l) => l.endsWith('if { queue() ge 0 }'))!;
      expect(headersOf(full).retryAfter).toBe('3');
      expect(problemOf(full)).toMatchObject({ retryAfterMs: 3000 });
      expect(problemOf(full).detail).toMatch(/retry after 3000 ms$/);

      const unbounded = section(haproxyConfig({ ...base, shedding: { maxConnPerServer: 0 } }), 'backend api');
      expect(unbounded.join('\n')).not.toMatch(/maxconn|queue\(\)/);
      expect(unbounded).toContain(
        'default-server check inter 500ms fastinter 500ms downinter 500ms fall 2 rise 1',
      );
    });
  });
});
