import { join } from 'node:path';
import {
  startHaproxy,
  type BalancerChecks,
  type BalancerServer,
  type BalancerShedding,
  type BalancerTimeouts,
  type HaproxyProcess,
} from '@doubletap/balancer';
import { uniqueName } from './names';
import { freePort } from './processes';
import { REPO_ROOT } from './stack';

export interface LoadBalancerOptions {
  /** the file names under the stack dir: `haproxy-<name>-<unique>` (default lb) */
  name?: string;
  checks?: BalancerChecks;
  timeouts?: BalancerTimeouts;
  /** past capacity: requests in flight per replica, the queue (default: libs/balancer's, ADR 0022) */
  shedding?: BalancerShedding;
  /** HAProxy's lines (server state changes), prefixed with `haproxy | ` */
  log?: (line: string) => void;
}

/**
 * HAProxy (libs/balancer) on free loopback ports in front of `servers`, with the config and pid
 * file under $DOUBLETAP_STACK_DIR (else <repo>/.stack) as `haproxy-<name>-<unique>`, so a run that
 * dies leaves nothing `stack.sh down` cannot stop. Resolves once its stats page answers; the
 * servers are UP once their /ready says 200 (`untilServers('UP')`).
 */
export async function startLoadBalancer(
  servers: readonly BalancerServer[],
  options: LoadBalancerOptions = {},
): Promise<HaproxyProcess> {
  const [listen, stats] = [await freePort(), await freePort()];
  return startHaproxy({
    stackDir: process.env.DOUBLETAP_STACK_DIR ?? join(REPO_ROOT, '.stack'),
    instanceName: `haproxy-${uniqueName(options.name ?? 'lb')}`,
    listen: { host: '127.0.0.1', port: listen },
    stats: { host: '127.0.0.1', port: stats },
    servers,
    checks: options.checks,
    timeouts: options.timeouts,
    shedding: options.shedding,
    onLine: options.log ? (line) => options.log!(`haproxy | ${line}`) : undefined,
  });
}
