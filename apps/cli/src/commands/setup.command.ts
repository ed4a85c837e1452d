import type { Command } from 'commander';
import { loadSettings, type Settings } from '@doubletap/config';
import { EventCodec, valueSubject } from '@doubletap/events';
import { createKafka, ensureTopics, topicSpecs, type EnsureResult } from '@doubletap/kafka';
import { output, run } from '../output';

export async function setupTopics(settings: Settings): Promise<EnsureResult[]> {
  const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'doubletap-cli' });
  // TOPIC_REPLICATION_FACTOR (3 on the cluster profile) sets the replicas and, with them, the
  // durability configs (min.insync.replicas, unclean election off) of every topic created
  return ensureTopics(kafka, topicSpecs(settings.topics, settings.topics.replicationFactor));
}

/**
 * Registers (or finds) both schemas, then sets FULL_TRANSITIVE on both subjects explicitly: init()
 * sets it only on subjects it creates, and a subject made by an older version keeps BACKWARD until
 * this runs (docs/adr/0006-schema-evolution.md). The level shown is the one the registry reports.
 */
export async function setupSchemas(
  settings: Settings,
): Promise<Array<{ subject: string; id: number; compatibility: string }>> {
  const codec = new EventCodec(settings.registry.url, settings.topics);
  const ids = await codec.init();
  const levels = new Map((await codec.enforceCompatibility()).map((s) => [s.subject, s.compatibility]));
  const events = valueSubject(settings.topics.events);
  const counts = valueSubject(settings.topics.counts);
  return [
    { subject: events, id: ids.likeEventId, compatibility: levels.get(events) ?? 'unknown' },
    { subject: counts, id: ids.countChangedId, compatibility: levels.get(counts) ?? 'unknown' },
  ];
}

export const renderSchemaSetup = (schemas: Array<{ subject: string; id: number; compatibility: string }>): string[] =>
  schemas.map((s) => `schema  ${s.subject.padEnd(24)} id ${s.id}  ${s.compatibility}`);

/** `doubletap setup`: topics and schemas, idempotent (run by `npm run stack:up`). */
export function registerSetup(program: Command): void {
  program
    .command('setup')
    .description(
      'create the topics (likes.events, likes.counts, dead letters) and register the Avro schemas; idempotent',
    )
    .option('--json', 'print one JSON document')
    .action((opts: { json?: boolean }) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const settings = loadSettings();
        const topics = await setupTopics(settings);
        const schemas = await setupSchemas(settings);
        out.result({ topics, schemas }, () =>
          [
            ...topics.map(
              (t) =>
                `topic   ${t.topic.padEnd(24)} ${String(t.partitions).padStart(3)} partitions  ${t.created ? 'created' : 'exists'}`,
            ),
            ...renderSchemaSetup(schemas),
          ].join('\n'),
        );
      }),
    );
}
