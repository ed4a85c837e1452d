import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadSettings } from '@doubletap/config';
import { REPO_ROOT } from '@doubletap/testing';

export const DEPLOY_DIR = join(REPO_ROOT, 'deploy');

/** One object of a Kubernetes manifest, with the file it came from. */
export interface K8sObject {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  readonly spec?: Record<string, unknown>;
  readonly data?: Record<string, string>;
  readonly [field: string]: unknown;
}

/** Every object of every YAML file under deploy/k8s (multi-document files split). */
export function loadK8sObjects(dir = join(DEPLOY_DIR, 'k8s')): K8sObject[] {
  const out: K8sObject[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
      const object = doc.toJS({ maxAliasCount: -1 }) as Omit<K8sObject, 'file'> | null;
      if (object) out.push({ ...object, file } as K8sObject);
    }
  }
  return out;
}

/** deploy/compose/docker-compose.yml, anchors and merge keys (`<<`) resolved as compose does. */
export function loadCompose(): { services: Record<string, ComposeService> } {
  return parse(readFileSync(join(DEPLOY_DIR, 'compose', 'docker-compose.yml'), 'utf8'), {
    merge: true,
    maxAliasCount: -1,
  }) as {
    services: Record<string, ComposeService>;
  };
}

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
}

/** A container of a pod template, as far as these checks read it. */
export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  envFrom?: Array<{ configMapRef?: { name: string }; secretRef?: { name: string } }>;
  ports?: Array<{ containerPort: number; name?: string }>;
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  resources?: { requests?: Record<string, string> };
}

/** The pod template of a workload (Deployment, StatefulSet, Job), or undefined. */
export function podTemplate(
  o: K8sObject,
): { metadata?: K8sObject['metadata']; spec: { containers: Container[] } } | undefined {
  return (
    o.spec as
      { template?: { metadata?: K8sObject['metadata']; spec: { containers: Container[] } } } | undefined
  )?.template;
}

/**
 * Every environment variable the settings read (libs/config), found by letting loadSettings read a
 * recording environment, plus the few read elsewhere (each named with where).
 */
export function settingsVariables(): Set<string> {
  const read = new Set<string>();
  const recording = new Proxy<Record<string, string | undefined>>(
    { JWT_SECRET: 'x'.repeat(32) },
    {
      get(target, name) {
        if (typeof name === 'string') read.add(name);
        return target[name as string];
      },
    },
  );
  loadSettings(recording);
  return read;
}
