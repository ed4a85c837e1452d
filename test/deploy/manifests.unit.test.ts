import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadSettings, runtimeEnv, type Settings } from '@doubletap/config';
import { KINDS, kindOf, unknownFields } from './k8s-schemas';
import {
  type Container,
  DEPLOY_DIR,
  type K8sObject,
  loadCompose,
  loadK8sObjects,
  podTemplate,
  settingsVariables,
} from './deploy-files';

/** The apps: the compiled entry point each container runs, and the port its settings give it. */
const APPS = {
  api: { script: 'dist/apps/api/src/main.js', port: (s: Settings) => s.api.port },
  aggregator: { script: 'dist/apps/aggregator/src/main.js', port: (s: Settings) => s.aggregator.port },
  projector: { script: 'dist/apps/projector/src/main.js', port: (s: Settings) => s.projector.port },
  monitor: { script: 'dist/apps/monitor/src/main.js', port: (s: Settings) => s.monitor.port },
} as const;
type App = keyof typeof APPS;
const appOf = (args: readonly string[] | undefined): App | undefined =>
  (Object.keys(APPS) as App[]).find((a) => args?.[0] === APPS[a].script);

/** KEDA Kafka scaler trigger fields (keda.sh docs, scalers/apache-kafka); its schema types them as any string map. */
const KAFKA_SCALER_FIELDS = new Set([
  'bootstrapServers',
  'consumerGroup',
  'topic',
  'lagThreshold',
  'activationLagThreshold',
  'offsetResetPolicy',
  'allowIdleConsumers',
  'excludePersistentLag',
  'scaleToZeroOnInvalidOffset',
  'limitToPartitionsWithLag',
  'partitionLimitation',
  'version',
  'sasl',
  'tls',
  'ensureEvenDistributionOfPartitions',
]);

const SECRET = 'k'.repeat(48);

describe('deploy/k8s', () => {
  const objects = loadK8sObjects();
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const named = (kind: string, name: string) => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (!found) throw new Error(`no ${kind} ${name} in deploy/k8s`);
    return found;
  };
  const configMap = named('ConfigMap', 'doubletap').data ?? {};
  const variables = settingsVariables();
  const workloads = objects.filter((o) => podTemplate(o));

  /** The environment a container starts with: the ConfigMap, the Secret (a stand-in value), its own env. */
  const envOf = (c: Container): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const from of c.envFrom ?? []) {
      if (from.configMapRef) Object.assign(env, named('ConfigMap', from.configMapRef.name).data);
      if (from.secretRef) env.JWT_SECRET = SECRET;
    }
    for (const e of c.env ?? [])
      env[e.name] =
        e.value?.replace(/\$\(POD_NAME\)/g, 'pod-0') ?? (e.name === 'POD_NAME' ? 'pod-0' : SECRET);
    return env;
  };

  it('every object is of a known kind and valid against its Kubernetes JSON schema', () => {
    expect(objects.length).toBeGreaterThanOrEqual(12);
    const problems: string[] = [];
    for (const o of objects) {
      const kind = KINDS[kindOf(o)];
      if (!kind)
        problems.push(
          `${o.file}: ${kindOf(o)} has no schema here (add its model to test/deploy/k8s-schemas.ts)`,
        );
      else {
        const { file: _file, ...object } = o;
        try {
          kind.validate(object);
        } catch (e) {
          problems.push(`${o.file}: ${o.kind} ${o.metadata?.name}: ${(e as Error).message}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('no object has a field its schema does not declare', () => {
    expect(unknownFields(objects)).toEqual([]);
  });

  it('the schemas catch what they should (a control: wrong types, unknown fields)', () => {
    const api = named('Deployment', 'doubletap-api');
    const { file: _file, ...object } = api;
    const broken = JSON.parse(JSON.stringify(object)) as {
      spec: { template: { spec: { containers: Array<Record<string, unknown>> } } };
    };
    broken.spec.template.spec.containers[0].ports = [{ containerPort: '8080' }];
    expect(() => KINDS['apps/v1/Deployment'].validate(broken)).toThrow(/containerPort must be integer/);
    broken.spec.template.spec.containers[0].ports = [{ containerPort: 8080 }];
    broken.spec.template.spec.containers[0].readinesProbe = {};
    expect(unknownFields([{ ...(broken as unknown as K8sObject), file: 'control.yaml' }]).join('\n')).toMatch(
      /readinesProbe/,
    );
  });

  it('runs each app once, with probes, resource requests and a scrape annotation on its own port', () => {
    const apps = workloads
      .flatMap((w) => podTemplate(w)!.spec.containers.map((c) => appOf(c.args)))
      .filter(Boolean);
    expect(apps.sort()).toEqual(['aggregator', 'api', 'monitor', 'projector']);
    for (const w of workloads) {
      const template = podTemplate(w)!;
      for (const c of template.spec.containers) {
        const where = `${w.file}: ${c.name}`;
        expect([where, c.image]).toEqual([where, 'doubletap:latest']);
        expect([
          where,
          c.resources?.requests?.cpu && c.resources.requests.memory ? 'requests' : 'none',
        ]).toEqual([where, 'requests']);
        const app = appOf(c.args);
        if (!app) continue; // the setup Job
        const settings = loadSettings(envOf(c)); // throws with every bad variable named
        const port = APPS[app].port(settings);
        expect([where, c.ports?.map((p) => p.containerPort)]).toEqual([where, [port]]);
        expect([where, c.readinessProbe?.httpGet?.path, c.livenessProbe?.httpGet?.path]).toEqual([
          where,
          '/ready',
          '/health',
        ]);
        expect([where, template.metadata?.annotations?.['prometheus.io/port']]).toEqual([
          where,
          String(port),
        ]);
      }
    }
  });

  it('sets only environment variables the apps read (libs/config)', () => {
    const unknown: string[] = [];
    for (const name of Object.keys(configMap)) if (!variables.has(name)) unknown.push(`ConfigMap: ${name}`);
    for (const w of workloads)
      for (const c of podTemplate(w)!.spec.containers)
        for (const e of c.env ?? [])
          if (
            !variables.has(e.name) &&
            e.name !== 'POD_NAME' &&
            !(e.name in runtimeEnv(appOf(c.args) ?? '', {}))
          )
            unknown.push(`${w.file}: ${c.name}: ${e.name}`);
    expect(unknown).toEqual([]);
  });

  it('starts each app with its runtime profile (libs/config runtimeEnv: heap cap, malloc arenas)', () => {
    for (const w of workloads)
      for (const c of podTemplate(w)!.spec.containers) {
        const want = runtimeEnv(appOf(c.args) ?? '', {});
        const got = Object.fromEntries(
          (c.env ?? [])
            .filter((e) => e.name in want || ['NODE_OPTIONS', 'MALLOC_ARENA_MAX'].includes(e.name))
            .map((e) => [e.name, e.value]),
        );
        expect([w.file, c.name, got]).toEqual([w.file, c.name, want]);
      }
  });

  it('scales the api with an HPA and the aggregators on consumer lag, capped at the partition count', () => {
    const settings = loadSettings({ ...configMap, JWT_SECRET: SECRET });
    const hpa = named('HorizontalPodAutoscaler', 'doubletap-api').spec as {
      scaleTargetRef: { kind: string; name: string };
    };
    expect(hpa.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: 'doubletap-api' });

    const scaled = named('ScaledObject', 'doubletap-aggregator').spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicaCount: number;
      maxReplicaCount: number;
      triggers: Array<{ type: string; metadata: Record<string, string> }>;
    };
    expect(scaled.scaleTargetRef).toMatchObject({ kind: 'StatefulSet', name: 'doubletap-aggregator' });
    named('StatefulSet', 'doubletap-aggregator');
    expect(scaled.minReplicaCount).toBeGreaterThanOrEqual(1);
    expect(scaled.maxReplicaCount).toBe(settings.topics.partitions);
    expect(scaled.triggers).toHaveLength(1);
    const kafka = scaled.triggers[0];
    expect(kafka.type).toBe('kafka');
    expect(Object.keys(kafka.metadata).filter((k) => !KAFKA_SCALER_FIELDS.has(k))).toEqual([]);
    expect(kafka.metadata).toMatchObject({
      bootstrapServers: settings.kafka.brokers.join(','),
      consumerGroup: settings.aggregator.groupId,
      topic: settings.topics.events,
      allowIdleConsumers: 'false',
    });
    expect(Number(kafka.metadata.lagThreshold)).toBeGreaterThan(0);
  });

  it('keeps aggregator state on volumes, and every workload under a disruption budget that selects it', () => {
    const aggregator = named('StatefulSet', 'doubletap-aggregator').spec as {
      volumeClaimTemplates: Array<{ metadata: { name: string } }>;
      template: {
        spec: { containers: Array<Container & { volumeMounts: Array<{ name: string; mountPath: string }> }> };
      };
    };
    const container = aggregator.template.spec.containers[0];
    const dataDir = loadSettings(envOf(container)).aggregator.dataDir;
    const mount = container.volumeMounts.find((m) => m.mountPath === dataDir);
    expect(aggregator.volumeClaimTemplates.map((t) => t.metadata.name)).toContain(mount?.name);
    expect(loadSettings(envOf(container)).aggregator.advertisedUrl).toBe(
      'http://pod-0.doubletap-aggregator:8081',
    );

    const budgets = byKind('PodDisruptionBudget').map(
      (b) => (b.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels,
    );
    const covered = (w: K8sObject) =>
      budgets.some((sel) =>
        Object.entries(sel).every(([k, v]) => podTemplate(w)?.metadata?.labels?.[k] === v),
      );
    const scaledOut = workloads.filter((w) => w.kind !== 'Job' && w.metadata.name !== 'doubletap-monitor');
    expect(scaledOut.filter((w) => !covered(w)).map((w) => w.metadata.name)).toEqual([]);
    for (const s of byKind('Service')) {
      const selector = (s.spec as { selector: Record<string, string> }).selector;
      expect([
        s.metadata.name,
        workloads.some((w) =>
          Object.entries(selector).every(([k, v]) => podTemplate(w)?.metadata?.labels?.[k] === v),
        ),
      ]).toEqual([s.metadata.name, true]);
    }
  });

  it('hands prometheus-operator the same rules as deploy/prometheus, and a PodMonitor for every app', () => {
    const rules = parse(readFileSync(join(DEPLOY_DIR, 'prometheus', 'rules.yml'), 'utf8')) as {
      groups: unknown;
    };
    expect(named('PrometheusRule', 'doubletap').spec?.groups).toEqual(rules.groups);
    const podMonitor = named('PodMonitor', 'doubletap').spec as {
      selector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
      podMetricsEndpoints: Array<{ port: string; path: string }>;
    };
    const [match] = podMonitor.selector.matchExpressions;
    const apps = workloads.filter((w) => podTemplate(w)!.spec.containers.some((c) => appOf(c.args)));
    expect([match.key, match.operator, [...match.values].sort()]).toEqual([
      'app',
      'In',
      apps.map((w) => podTemplate(w)?.metadata?.labels?.app).sort(),
    ]);
    for (const w of apps) {
      const ports = podTemplate(w)!.spec.containers.flatMap((c) => c.ports ?? []);
      expect([
        w.metadata.name,
        podMonitor.podMetricsEndpoints.every((e) => ports.some((p) => p.name === e.port)),
      ]).toEqual([w.metadata.name, true]);
    }
  });
});

describe('deploy/compose', () => {
  const compose = loadCompose();
  const k8s = loadK8sObjects();
  const variables = settingsVariables();
  const appServices = Object.entries(compose.services).filter(([, s]) => s.image === 'doubletap:latest');

  it('runs the same apps and the setup from the same image and commands as deploy/k8s', () => {
    const k8sCommands = k8s
      .flatMap((o) => podTemplate(o)?.spec.containers ?? [])
      .map((c) => JSON.stringify(c.args))
      .sort();
    expect(appServices.map(([, s]) => JSON.stringify(s.command)).sort()).toEqual(k8sCommands);
    expect(appServices.map(([name]) => name).sort()).toEqual([
      'aggregator',
      'api',
      'monitor',
      'projector',
      'setup',
    ]);
  });

  it('starts each app with its runtime profile, as in k8s', () => {
    for (const [name, service] of appServices) {
      const want = runtimeEnv(appOf(service.command) ?? '', {});
      const env = (service.environment ?? {}) as Record<string, unknown>;
      const got = Object.fromEntries(
        Object.entries(env).filter(([k]) => k in want || ['NODE_OPTIONS', 'MALLOC_ARENA_MAX'].includes(k)),
      );
      expect([name, got]).toEqual([name, want]);
    }
  });

  it('gives each app valid settings, only variables the apps read, and its port', () => {
    for (const [name, service] of appServices) {
      const env = Object.fromEntries(
        Object.entries(service.environment ?? {}).map(([k, v]) => [
          k,
          String(v).replace(/^\$\{JWT_SECRET.*\}$/, SECRET),
        ]),
      );
      const runtime = runtimeEnv(appOf(service.command) ?? '', {});
      expect([name, Object.keys(env).filter((k) => !variables.has(k) && !(k in runtime))]).toEqual([
        name,
        [],
      ]);
      const settings = loadSettings(env);
      const app = appOf(service.command);
      if (app === 'aggregator')
        expect(settings.aggregator.advertisedUrl).toBe(`http://${name}:${settings.aggregator.port}`);
      const k8sContainer = k8s
        .flatMap((o) => podTemplate(o)?.spec.containers ?? [])
        .find((c) => appOf(c.args) === app);
      if (app && k8sContainer)
        expect([name, APPS[app].port(settings)]).toEqual([name, k8sContainer.ports?.[0]?.containerPort]);
    }
  });
});
