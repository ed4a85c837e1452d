import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { parse, stringify } from 'yaml';
import {
  freePort,
  PROMTOOL_PATH,
  spawnBuilt,
  startPipeline,
  startPrometheus,
  stopChild,
  untilStatus,
  waitFor,
  type Pipeline,
  type PrometheusProcess,
} from '@doubletap/testing';
import { DEPLOY_DIR } from './deploy-files';

const run = promisify(execFile);
const RULES = join(DEPLOY_DIR, 'prometheus', 'rules.yml');
const DASHBOARD = join(DEPLOY_DIR, 'grafana', 'doubletap.json');

/** The shipped rules with every `for` cut to 2 s: the test waits seconds, not the realistic minutes. */
async function testRules(): Promise<string> {
  const rules = parse(await readFile(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ for?: string }> }> };
  for (const group of rules.groups) for (const rule of group.rules) if (rule.for) rule.for = '2s';
  return stringify(rules);
}

/** Every metric name an expression of the rules or the dashboard uses. */
async function metricNamesUsed(): Promise<Set<string>> {
  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
    panels: Array<{ targets: Array<{ expr: string }> }>;
  };
  const rules = parse(await readFile(RULES, 'utf8')) as { groups: Array<{ rules: Array<{ expr: string }> }> };
  const exprs = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
    ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)),
  ];
  return new Set(exprs.flatMap((e) => e.match(/\bdoubletap_[a-z0-9_]+/g) ?? []));
}

describe('promtool on deploy/prometheus and deploy/compose', () => {
  it('checks the rules, runs their unit tests, and checks the compose Prometheus config', async () => {
    await expect(run(PROMTOOL_PATH, ['check', 'rules', RULES])).resolves.toMatchObject({
      stdout: expect.stringContaining('SUCCESS'),
    });
    const tests = await run(PROMTOOL_PATH, [
      'test',
      'rules',
      join(DEPLOY_DIR, 'prometheus', 'rules.test.yml'),
    ]);
    expect(tests.stdout).toContain('SUCCESS');
    // the compose config names rules.yml beside it, as the compose file mounts it
    const dir = await mkdtemp(join(tmpdir(), 'dt-promtool-'));
    try {
      await cp(join(DEPLOY_DIR, 'compose', 'prometheus.yml'), join(dir, 'prometheus.yml'));
      await cp(RULES, join(dir, 'rules.yml'));
      const config = await run(PROMTOOL_PATH, ['check', 'config', join(dir, 'prometheus.yml')]);
      expect(config.stdout).toContain('SUCCESS: 1 rule files found');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Prometheus against the running apps', () => {
  let pipe: Pipeline;
  let monitor: ChildProcess;
  let monitorUrl: string;
  let prometheus: PrometheusProcess;
  const paused: ChildProcess[] = [];
  const early: string[] = [];

  beforeAll(async () => {
    pipe = await startPipeline({ name: 'prom', partitions: 3 });
    const port = await freePort();
    monitorUrl = `http://127.0.0.1:${port}`;
    monitor = spawnBuilt(
      'apps/monitor/src/main.js',
      { ...pipe.env, MONITOR_PORT: String(port), MONITOR_INTERVAL_MS: '500' },
      (why) => early.push(why),
    );
    await untilStatus(`${monitorUrl}/ready`, (s) => s === 200, 'monitor', {
      child: monitor,
      timeoutMs: 60_000,
    });
    const hostPort = (url: string) => new URL(url).host;
    prometheus = await startPrometheus({
      jobs: {
        'doubletap-api': [hostPort(pipe.apiUrl)],
        'doubletap-aggregator': [hostPort(pipe.aggregatorUrl)],
        'doubletap-projector': [hostPort(pipe.projectorUrl)],
        'doubletap-monitor': [hostPort(monitorUrl)],
      },
      rules: [['rules.yml', await testRules()]],
    });
  });

  afterAll(async () => {
    for (const child of paused) child.kill('SIGCONT');
    await prometheus?.stop();
    if (monitor) await stopChild(monitor);
    await pipe?.stop();
  });

  it('scrapes every app', async () => {
    const targets = await waitFor(
      'every target up',
      async () => {
        const all = await prometheus.targets();
        return all.length === 4 && all.every((t) => t.health === 'up') ? all : undefined;
      },
      60_000,
      500,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${JSON.stringify(await prometheus.targets(), null, 2)}`);
    });
    expect(targets.map((t) => t.scrapePool).sort()).toEqual([
      'doubletap-aggregator',
      'doubletap-api',
      'doubletap-monitor',
      'doubletap-projector',
    ]);
    // the apps' own series arrived, with their app label
    const apps = await prometheus.query('count by (app) (doubletap_process_start_time_seconds)');
    expect(apps.map((s) => s.metric.app).sort()).toEqual(['aggregator', 'api', 'monitor', 'projector']);
  });

  it('the rules and the dashboard use only metrics the apps serve, in queries Prometheus evaluates', async () => {
    const served = new Map<string, string>();
    for (const url of [pipe.apiUrl, pipe.aggregatorUrl, pipe.projectorUrl, monitorUrl]) {
      const text = await (await fetch(`${url}/metrics`)).text();
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) served.set(m[1], m[2]);
    }
    const missing = [...(await metricNamesUsed())].filter((name) => {
      if (served.has(name)) return false;
      const base = name.replace(/_(bucket|count|sum)$/, '');
      return served.get(base) !== 'histogram';
    });
    expect(missing).toEqual([]);
    // and every dashboard query is PromQL this Prometheus evaluates (promtool checks only the rules)
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    };
    const refused: string[] = [];
    for (const panel of dashboard.panels)
      for (const target of panel.targets)
        await prometheus.query(target.expr).catch((e: Error) => refused.push(`${panel.title}: ${e.message}`));
    expect(refused).toEqual([]);
  });

  it('fires the lag alert when the aggregator stalls while likes keep coming', async () => {
    const group = pipe.settings.aggregator.groupId;
    const lagging = async () =>
      (await prometheus.alerts()).filter(
        (a) => a.labels.alertname === 'DoubletapConsumerGroupLagging' && a.labels.group === group,
      );
    // before: the group's status has reached Prometheus, OK, and the rules were evaluated on it
    await waitFor(
      'the aggregator group OK in Prometheus',
      async () => {
        const status = await prometheus.query(`doubletap_consumer_group_status{group="${group}"}`);
        return status.length === 1 && status[0].value === 0;
      },
      60_000,
      500,
    );
    await new Promise((r) => setTimeout(r, 2_000)); // two rule evaluations on that sample
    expect(await lagging()).toEqual([]);

    // the aggregator stalls (SIGSTOP: a member that stays in the group and never commits)
    const aggregator = pipe.processes.get('aggregator')!;
    aggregator.kill('SIGSTOP');
    paused.push(aggregator);
    const token = await pipe.token('lag-user');
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${pipe.apiUrl}/v1/posts/lag-post-${i}/likes`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status).toBe(202);
    }

    const alert = await waitFor(
      'DoubletapConsumerGroupLagging firing',
      async () => (await lagging()).find((a) => a.state === 'firing'),
      90_000,
      500,
    ).catch(async (e: Error) => {
      const status = await (await fetch(`${monitorUrl}/status`)).json().catch(() => 'unreadable');
      throw new Error(
        `${e.message}\nalerts: ${JSON.stringify(await prometheus.alerts())}\nmonitor: ${JSON.stringify(status)}`,
      );
    });
    expect(alert.labels).toMatchObject({ severity: 'critical', group, topic: pipe.settings.topics.events });
    expect(alert.annotations.summary).toBe(
      `consumer group ${group} is not consuming ${pipe.settings.topics.events}`,
    );
    // the lag it reacted to is the likes just accepted
    const lag = await prometheus.query(`sum(doubletap_consumer_lag_messages{group="${group}"})`);
    expect(lag[0]?.value).toBe(20);
    expect(early).toEqual([]);
  });
});
