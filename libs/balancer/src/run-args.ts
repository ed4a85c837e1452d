import type { RunApp } from './plan';

/** The apps `npm start` runs, in start order. */
export const RUN_APPS: readonly RunApp[] = ['aggregator', 'projector', 'api', 'monitor'];

/** What `npm start -- ...` (scripts/run-apps.js) was asked for. */
export interface RunArgs {
  /** instances per app given by a flag (--api, --aggregators, --projectors) */
  readonly counts: Partial<Record<'api' | 'aggregator' | 'projector', number>>;
  /** false with --no-monitor */
  readonly monitor?: false;
  /** --lb / --no-lb (undefined: the default, on when there is more than one api replica) */
  readonly lb?: boolean;
  /** apps named as arguments: only these run (the others get 0 unless a flag gives a count) */
  readonly only: readonly RunApp[];
  readonly help: boolean;
}

export const RUN_USAGE = `usage: npm start -- [options] [app...]
       node scripts/run-apps.js [options] [app...]

Runs the built apps on the local stack in the foreground; Ctrl-C stops them all gracefully.
Without options: one aggregator, one projector, one api, the monitor (each on its usual port).

  --api N           api replicas (default 1). Replica n listens on API_PORT + 10n
  --aggregators N   aggregators (default 1): each its own port (AGGREGATOR_PORT + 10n), data dir
                    (AGGREGATOR_DATA_DIR, then <dir>-2, <dir>-3...) and advertised URL; interactive
                    queries (likedByViewer) go to the owner of the partition (the owners map in Redis)
  --projectors N    projectors (default 1), one consumer group, PROJECTOR_PORT + 10n
  --no-monitor      do not start the lag monitor
  --lb              HAProxy (Debian's haproxy; scripts/ensure-haproxy.sh installs it) on API_PORT,
                    balancing the api replicas (API_PORT + 10, + 20, ...) by least connections,
                    health-checked on /ready; its stats on API_PORT + 4 (/stats, /stats;csv,
                    /metrics). On by default when --api is more than 1
  --no-lb           no balancer: replica n on API_PORT + 10n, clients pick one
  -h, --help        this text
  app...            only these apps (api, aggregator, projector, monitor); counts given by flags
                    still apply

Defaults (8080..8084 from API_PORT=8080): with --api 3 --aggregators 2, HAProxy :8080, stats :8084,
api-1 :8090, api-2 :8100, api-3 :8110, aggregator-1 :8081, aggregator-2 :8091, projector :8082,
monitor :8083. Pid files: $DOUBLETAP_STACK_DIR/run/app-<name>.pid and run/haproxy.pid
(\`npm run stack:status\` shows HAProxy, \`npm run stack:down\` stops it). An instance that dies
while others of its app still run is reported and the rest go on; when the last one of an app (or
HAProxy) exits, everything stops.
`;

/** Parses run-apps's arguments; throws with a one-line reason on anything it does not know. */
export function parseRunArgs(argv: readonly string[]): RunArgs {
  const counts: Record<string, number> = {};
  const only: RunApp[] = [];
  let monitor: false | undefined;
  let lb: boolean | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const [flag, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined || !/^\d+$/.test(v))
        throw new Error(`${flag} needs a whole number (got ${v === undefined ? 'nothing' : `'${v}'`})`);
      return Number(v);
    };
    const bare = () => {
      if (inline !== undefined) throw new Error(`${flag} takes no value`);
    };
    switch (flag) {
      case '--api':
        counts.api = value();
        break;
      case '--aggregators':
        counts.aggregator = value();
        break;
      case '--projectors':
        counts.projector = value();
        break;
      case '--no-monitor':
        bare();
        monitor = false;
        break;
      case '--lb':
        bare();
        lb = true;
        break;
      case '--no-lb':
        bare();
        lb = false;
        break;
      case '-h':
      case '--help':
        help = true;
        break;
      default:
        if ((RUN_APPS as readonly string[]).includes(arg)) only.push(arg as RunApp);
        else throw new Error(`unknown argument '${arg}'`);
    }
  }
  return {
    counts,
    ...(monitor === false ? { monitor } : {}),
    ...(lb === undefined ? {} : { lb }),
    only,
    help,
  };
}
