import { dirname, join } from 'node:path';
import ts from 'typescript';
import { StatefulSet, Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { REPO_ROOT } from '@doubletap/testing';
import type { K8sObject } from './deploy-files';

/**
 * The kinds deploy/k8s uses, each with the model of the `kubernetes-models` packages (Kubernetes
 * 1.27's OpenAPI schemas, the KEDA and prometheus-operator CRD schemas): its validate() checks the object against the JSON schema
 * and throws with the path of the first problems. `types` names the TypeScript interface the same
 * package declares for it, for the unknown-field check below.
 */
interface Kind {
  validate(object: Record<string, unknown>): void;
  types: { module: string; name: string };
}

const model = (M: new (data: never) => { validate(): void }, module: string, name: string): Kind => ({
  validate: (object) => new M(object as never).validate(),
  types: { module, name },
});

export const KINDS: Record<string, Kind> = {
  'v1/ConfigMap': model(ConfigMap, 'kubernetes-models/v1/ConfigMap', 'IConfigMap'),
  'v1/Service': model(Service, 'kubernetes-models/v1/Service', 'IService'),
  'apps/v1/Deployment': model(Deployment, 'kubernetes-models/apps/v1/Deployment', 'IDeployment'),
  'apps/v1/StatefulSet': model(StatefulSet, 'kubernetes-models/apps/v1/StatefulSet', 'IStatefulSet'),
  'batch/v1/Job': model(Job, 'kubernetes-models/batch/v1/Job', 'IJob'),
  'autoscaling/v2/HorizontalPodAutoscaler': model(
    HorizontalPodAutoscaler,
    'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    'IHorizontalPodAutoscaler',
  ),
  'policy/v1/PodDisruptionBudget': model(
    PodDisruptionBudget,
    'kubernetes-models/policy/v1/PodDisruptionBudget',
    'IPodDisruptionBudget',
  ),
  'keda.sh/v1alpha1/ScaledObject': model(
    ScaledObject,
    '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject',
    'IScaledObject',
  ),
  'monitoring.coreos.com/v1/PodMonitor': model(
    PodMonitor,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor',
    'IPodMonitor',
  ),
  'monitoring.coreos.com/v1/PrometheusRule': model(
    PrometheusRule,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    'IPrometheusRule',
  ),
};

export const kindOf = (o: Pick<K8sObject, 'apiVersion' | 'kind'>): string => `${o.apiVersion}/${o.kind}`;

/**
 * Unknown fields. Kubernetes' JSON schemas allow properties they do not list (only the API server's
 * strict field validation refuses them), so a misspelt `readinesProbe` validates and is silently
 * dropped. The packages' TypeScript interfaces are generated from the same schemas, and the
 * compiler's excess-property check refuses any field they do not declare, at every depth: each
 * object is type-checked as an object literal of its kind's interface. Returns one message per
 * problem, naming the object.
 */
export function unknownFields(objects: readonly K8sObject[]): string[] {
  const file = join(REPO_ROOT, 'test', 'deploy', '__manifests__.ts');
  const lines: string[] = [];
  const names: string[] = [];
  objects.forEach((o, i) => {
    const kind = KINDS[kindOf(o)];
    if (!kind) return;
    const { file: _source, ...object } = o;
    lines.push(`import type { ${kind.types.name} as T${i} } from '${kind.types.module}';`);
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(object)};`);
    names[i] = `${o.file}: ${o.kind} ${o.metadata?.name}`;
  });
  const source = lines.join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    lib: ['lib.es2022.d.ts'],
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    baseUrl: REPO_ROOT,
  };
  const host = ts.createCompilerHost(options);
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  host.readFile = (f) => (f === file ? source : readFile(f));
  host.fileExists = (f) => f === file || fileExists(f);
  host.getCurrentDirectory = () => dirname(file);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return text;
    const line = d.file.getLineAndCharacterOfPosition(d.start).line;
    const index = Number(/^export const o(\d+)/.exec(source.split('\n')[line] ?? '')?.[1]);
    return `${names[index] ?? d.file.fileName}: ${text}`;
  });
}
