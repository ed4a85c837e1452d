import type { HealthRegistry, Registry } from '@doubletap/observability';

/** What every process's operational endpoints need. */
export interface OpsDeps {
  /** readiness checks: GET /ready runs them all */
  health: HealthRegistry;
  /** GET /metrics renders it (Prometheus text) */
  metrics: Registry;
  /** liveness: why the process is not alive (a fatal error, a dead consumer), undefined while it is */
  alive?: () => string | undefined;
  /** work before /metrics is rendered (gauges that are read on demand) */
  beforeMetrics?: () => Promise<void>;
}

/** One HTTP answer, independent of the server that sends it. */
export interface OpsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export const OPS_PATHS = ['/health', '/ready', '/metrics'] as const;
export type OpsPath = (typeof OPS_PATHS)[number];

export function isOpsPath(path: string): path is OpsPath {
  return (OPS_PATHS as readonly string[]).includes(path);
}

const JSON_TYPE = 'application/json; charset=utf-8';
const PROBLEM_TYPE = 'application/problem+json; charset=utf-8';

/** An RFC 9457 problem answer; `extra` members are added beside the standard ones. */
export function problemAnswer(status: number, title: string, detail: string, extra: object = {}, headers: Record<string, string> = {}): OpsAnswer {
  return {
    status,
    headers: { 'content-type': PROBLEM_TYPE, 'cache-control': 'no-store', ...headers },
    body: JSON.stringify({ type: 'about:blank', title, status, detail, ...extra }),
  };
}

/**
 * The answer of GET /health, /ready or /metrics, the same in every app (api, aggregator, projector,
 * monitor):
 * - /health (liveness): 200 `{"status":"ok"}`, or 503 problem "Not alive" naming why;
 * - /ready (readiness): 200 with the report of every check, or 503 problem "Not ready" with
 *   Retry-After: 1, the down checks in `detail` and the whole report in `checks`;
 * - /metrics: Prometheus text.
 */
export async function opsAnswer(path: OpsPath, deps: OpsDeps): Promise<OpsAnswer> {
  switch (path) {
    case '/health': {
      const dead = deps.alive?.();
      if (dead !== undefined) return problemAnswer(503, 'Not alive', dead);
      return { status: 200, headers: { 'content-type': JSON_TYPE, 'cache-control': 'no-store' }, body: JSON.stringify({ status: 'ok' }) };
    }
    case '/ready': {
      const report = await deps.health.report();
      if (report.status === 'ok')
        return { status: 200, headers: { 'content-type': JSON_TYPE, 'cache-control': 'no-store' }, body: JSON.stringify(report) };
      const down = Object.entries(report.checks)
        .filter(([, c]) => c.status === 'down')
        .map(([name, c]) => `${name}: ${c.error ?? 'down'}`);
      return problemAnswer(503, 'Not ready', down.join('; '), { checks: report.checks }, { 'retry-after': '1' });
    }
    case '/metrics':
      await deps.beforeMetrics?.();
      return { status: 200, headers: { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' }, body: await deps.metrics.metrics() };
  }
}
