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
      'default-server check inter 500ms fastinter 500ms downinter 500ms fall 2 rise 1',
    );
    expect(backend).toContain('server api-1 127.0.0.1:8090');
    expect(backend).toContain('server api-2 127.0.0.1:8100');
  });

  it('is SSE-safe: long stream timeouts on stream paths, a long client timeout, keep-alive, no compression', () => {
    const config = haproxyConfig(base);
    const defaults = section(config, 'defaults');
    expect(defaults).toContain('mode http');
    expect(defaults).toEqual(expect.arrayContaining(['option http-keep-alive', 'http-reuse safe']));
    expect(defaults).toContain('timeout client 3600000ms');
    expect(defaults).toContain('timeout server 30000ms');
    expect(defaults).toContain('timeout tunnel 3600000ms');
    expect(defaults).not.toContain('option httpclose');
    const backend = section(config, 'backend api');
    expect(backend).toContain('acl is_stream path_end /stream');
    expect(backend).toContain('http-request set-timeout server 3600000ms if is_stream');
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
    expect(section(config, 'frontend api')).toEqual(['bind 127.0.0.1:8080', 'default_backend api']);
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
      'default-server check inter 200ms fastinter 200ms downinter 200ms fall 3 rise 2',
    );
    expect(backend).toContain('acl is_stream path_end /stream /events');
    expect(backend).toContain('http-request set-timeout server 60000ms if is_stream');
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
  });
});
