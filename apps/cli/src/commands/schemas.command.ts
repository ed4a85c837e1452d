import type { Command } from 'commander';
import { loadSettings } from '@doubletap/config';
import { valueSubject } from '@doubletap/events';
import { output, run } from '../output';
import { renderSchemaSetup, setupSchemas } from './setup.command';

export interface SubjectDescription {
  subject: string;
  /** the subject's compatibility rule, or the registry's global one (`global: true`) when unset */
  compatibility: string | null;
  compatibilityIsGlobal: boolean;
  versions: Array<{ version: number; id: number; type: string; name: string | null; fields: string[] }>;
}

async function getJson<T>(url: string): Promise<{ status: number; body: T | undefined }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10000), headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json' } });
  if (res.status === 404) return { status: 404, body: undefined };
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return { status: res.status, body: (await res.json()) as T };
}

/** Subjects, versions, schema ids and compatibility through the Confluent-compatible (ccompat) API. */
export async function describeSubjects(registryUrl: string, subjects: string[]): Promise<{ found: SubjectDescription[]; missing: string[] }> {
  const base = registryUrl.replace(/\/+$/, '');
  const global = (await getJson<{ compatibilityLevel?: string; compatibility?: string }>(`${base}/config`)).body;
  const globalLevel = global?.compatibilityLevel ?? global?.compatibility ?? null;
  const found: SubjectDescription[] = [];
  const missing: string[] = [];
  for (const subject of subjects) {
    const s = encodeURIComponent(subject);
    const versions = (await getJson<number[]>(`${base}/subjects/${s}/versions`)).body;
    if (!versions) {
      missing.push(subject);
      continue;
    }
    const config = (await getJson<{ compatibilityLevel?: string; compatibility?: string }>(`${base}/config/${s}`)).body;
    const own = config?.compatibilityLevel ?? config?.compatibility;
    const described: SubjectDescription['versions'] = [];
    for (const v of versions) {
      const body = (await getJson<{ id: number; version: number; schema: string; schemaType?: string }>(`${base}/subjects/${s}/versions/${v}`)).body;
      if (!body) continue;
      let name: string | null = null;
      let fields: string[] = [];
      try {
        const parsed = JSON.parse(body.schema) as { name?: string; namespace?: string; fields?: Array<{ name: string }> };
        name = parsed.name ? `${parsed.namespace ? `${parsed.namespace}.` : ''}${parsed.name}` : null;
        fields = (parsed.fields ?? []).map((f) => f.name);
      } catch {
        // not JSON (a non-Avro schema): keep it undescribed
      }
      described.push({ version: body.version, id: body.id, type: body.schemaType ?? 'AVRO', name, fields });
    }
    found.push({ subject, compatibility: own ?? globalLevel, compatibilityIsGlobal: own === undefined, versions: described });
  }
  return { found, missing };
}

export function registerSchemas(program: Command): void {
  const schemas = program.command('schemas').description('describe the registered schemas (default) or register them: schemas [describe|setup]');
  schemas
    .command('describe', { isDefault: true })
    .description('subjects of likes.events and likes.counts (or --all): versions, schema ids, record fields, compatibility')
    .option('--all', 'every subject in the registry')
    .option('--json', 'print one JSON document')
    .action((opts: { all?: boolean; json?: boolean }) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const settings = loadSettings();
        const base = settings.registry.url.replace(/\/+$/, '');
        const subjects = opts.all
          ? ((await getJson<string[]>(`${base}/subjects`)).body ?? []).sort()
          : [valueSubject(settings.topics.events), valueSubject(settings.topics.counts)];
        const { found, missing } = await describeSubjects(base, subjects);
        out.result({ registry: base, subjects: found, missing }, () =>
          [
            `registry ${base}`,
            ...found.flatMap((s) => [
              `${s.subject}: compatibility ${s.compatibility ?? 'unknown'}${s.compatibilityIsGlobal ? ' (registry default)' : ''}`,
              ...s.versions.map((v) => `  v${v.version}  id ${v.id}  ${v.type} ${v.name ?? ''}  fields ${v.fields.join(', ')}`),
            ]),
            ...missing.map((m) => `${m}: MISSING (run \`doubletap schemas setup\`)`),
          ].join('\n'),
        );
        return missing.length > 0 ? 1 : 0;
      }),
    );
  schemas
    .command('setup')
    .description('register (or find) the LikeEvent and CountChanged schemas and set FULL_TRANSITIVE compatibility on their subjects; idempotent')
    .option('--json', 'print one JSON document')
    .action((opts: { json?: boolean }) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const registered = await setupSchemas(loadSettings());
        out.result({ schemas: registered }, () => renderSchemaSetup(registered).join('\n'));
      }),
    );
}
