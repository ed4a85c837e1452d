/** One server (an api replica) as HAProxy's stats CSV shows it. */
export interface ServerStats {
  /** the backend (proxy) it belongs to */
  readonly proxy: string;
  /** the server's name in the config (`api-1`) */
  readonly server: string;
  /**
   * UP, DOWN, MAINT, DRAIN, NOLB or `no check`: the first word of the status column ("UP 1/2",
   * a server going down after one failed check, is still UP)
   */
  readonly state: string;
  /** the status column as HAProxy wrote it (e.g. "DOWN 1/1", "UP 1/2") */
  readonly status: string;
  /** sessions (connections: requests, streams) open on it now */
  readonly sessions: number;
  /** sessions since HAProxy started */
  readonly totalSessions: number;
  /** the last health check's result (L7OK, L4CON, L7STS...) */
  readonly checkStatus: string;
  /** seconds since the state last changed */
  readonly lastChangeSeconds: number;
}

/** The proxies' totals and every server, from one read of the stats CSV. */
export interface BalancerStats {
  readonly servers: ServerStats[];
  /** sessions open on each frontend (clients connected to the balancer) */
  readonly frontendSessions: Record<string, number>;
}

const num = (v: string | undefined): number => (v === undefined || v === '' ? 0 : Number(v));

/**
 * Parses HAProxy's stats CSV (`/stats;csv`: a `# pxname,svname,...` header, then one row per
 * frontend, server and backend). Columns are found by name, so another HAProxy version's extra
 * columns do no harm.
 */
export function parseStatsCsv(csv: string): BalancerStats {
  const lines = csv
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  const head = lines.find((l) => l.startsWith('#'));
  if (!head) throw new Error('not a HAProxy stats CSV (no "# pxname,svname,..." header)');
  const columns = head.replace(/^#\s*/, '').split(',');
  const at = (name: string) => {
    const i = columns.indexOf(name);
    if (i < 0 && ['pxname', 'svname', 'status', 'scur'].includes(name))
      throw new Error(`the stats CSV has no ${name} column`);
    return i;
  };
  const [px, sv, st, scur, stot, check, lastchg] = [
    'pxname',
    'svname',
    'status',
    'scur',
    'stot',
    'check_status',
    'lastchg',
  ].map(at);
  const servers: ServerStats[] = [];
  const frontendSessions: Record<string, number> = {};
  for (const line of lines) {
    if (line.startsWith('#')) continue;
    const f = line.split(',');
    const server = f[sv];
    if (server === 'FRONTEND') {
      frontendSessions[f[px]] = num(f[scur]);
      continue;
    }
    if (server === 'BACKEND') continue;
    const status = f[st] ?? '';
    servers.push({
      proxy: f[px],
      server,
      state: status === 'no check' ? status : (status.split(' ')[0] ?? ''),
      status,
      sessions: num(f[scur]),
      totalSessions: stot >= 0 ? num(f[stot]) : 0,
      checkStatus: check >= 0 ? (f[check] ?? '').replace(/^\* /, '') : '',
      lastChangeSeconds: lastchg >= 0 ? num(f[lastchg]) : 0,
    });
  }
  return { servers, frontendSessions };
}

/** Reads the stats of a running HAProxy (`statsUrl` is its stats page, e.g. http://127.0.0.1:8084/stats). */
export async function readBalancerStats(statsUrl: string, timeoutMs = 2000): Promise<BalancerStats> {
  const res = await fetch(`${statsUrl};csv`, { signal: AbortSignal.timeout(timeoutMs) });
  if (res.status !== 200) throw new Error(`${statsUrl};csv answered ${res.status}`);
  return parseStatsCsv(await res.text());
}

/** server name → its state (UP, DOWN, ...), for one backend (all when `proxy` is not given). */
export function serverStates(stats: BalancerStats, proxy?: string): Record<string, string> {
  return Object.fromEntries(
    stats.servers.filter((s) => proxy === undefined || s.proxy === proxy).map((s) => [s.server, s.state]),
  );
}
