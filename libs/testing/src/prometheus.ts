import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { freePort, stopChild, untilStatus } from './processes';

export const PROMETHEUS_PATH = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';
export const PROMTOOL_PATH = process.env.PROMTOOL_PATH ?? '/usr/bin/promtool';

export interface PrometheusOptions {
  /** job name → `host:port` of each target (scraped at /metrics) */
  jobs: Record<string, string[]>;
  /** rule files: [name, YAML text], written beside the config */
  rules?: Array<[string, string]>;
  /** scrape and rule evaluation interval (default 1s: tests wait on them) */
  intervalSeconds?: number;
}

/** What /api/v1/targets says of one active target. */
export interface TargetView {
  scrapePool: string;
  scrapeUrl: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

/** What /api/v1/alerts says of one alert. */
export interface AlertView {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  value: string;
}

/** A Prometheus server of its own (config, storage, port), started by startPrometheus. */
export interface PrometheusProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** the server's own log lines (stderr), for a failing test's message */
  readonly logs: string[];
  targets(): Promise<TargetView[]>;
  alerts(): Promise<AlertView[]>;
  /** an instant query; the vector's samples as labels and value */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** stops it (SIGTERM, by pid) and deletes its config and storage */
  stop(): Promise<void>;
}

async function api<T>(url: string): Promise<T> {
  const res = await fetch(url);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

/**
 * Starts Prometheus (Debian's, scripts/ensure-prometheus.sh installs it; PROMETHEUS_PATH overrides)
 * on a free loopback port with a generated config: one static job per entry of `jobs`, the rule
 * files given, and short intervals. Resolves once it answers /-/ready.
 */
export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'dt-prometheus-'));
  const port = await freePort();
  const interval = `${options.intervalSeconds ?? 1}s`;
  const ruleFiles: string[] = [];
  for (const [name, text] of options.rules ?? []) {
    await writeFile(join(dir, basename(name)), text);
    ruleFiles.push(basename(name));
  }
  // JSON is YAML: the config needs no YAML writer
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
    rule_files: ruleFiles,
    scrape_configs: Object.entries(options.jobs).map(([job, targets]) => ({
      job_name: job,
      static_configs: [{ targets }],
    })),
  };
  await writeFile(join(dir, 'prometheus.yml'), JSON.stringify(config, null, 2));
  const child = spawn(
    PROMETHEUS_PATH,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const logs: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    logs.push(...chunk.split('\n').filter(Boolean));
    if (logs.length > 500) logs.splice(0, logs.length - 500);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child, 10_000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await untilStatus(`${url}/-/ready`, (s) => s === 200, 'prometheus', { child, timeoutMs: 30_000 });
  } catch (e) {
    await stop();
    throw new Error(`${(e as Error).message}\n${logs.slice(-20).join('\n')}`);
  }
  return {
    url,
    child,
    logs,
    targets: async () =>
      (await api<{ activeTargets: TargetView[] }>(`${url}/api/v1/targets?state=active`)).activeTargets,
    alerts: async () => (await api<{ alerts: AlertView[] }>(`${url}/api/v1/alerts`)).alerts,
    query: async (expr) => {
      const data = await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    stop,
  };
}
