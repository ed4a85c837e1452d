import type { Command } from 'commander';
import { loadSettings } from '@doubletap/config';
import { EventCodec, valueSubject } from '@doubletap/events';
import { createKafka, ensureTopics, topicSpecs } from '@doubletap/kafka';
import { output, run } from '../output';

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
        const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'doubletap-cli' });
        const topics = await ensureTopics(kafka, topicSpecs(settings.topics), settings.topics.replicationFactor);
        const codec = new EventCodec(settings.registry.url, settings.topics);
        const ids = await codec.init();
        const schemas = [
          { subject: valueSubject(settings.topics.events), id: ids.likeEventId, compatibility: 'BACKWARD' },
          {
            subject: valueSubject(settings.topics.counts),
            id: ids.countChangedId,
            compatibility: 'BACKWARD',
          },
        ];
        out.result({ topics, schemas }, () =>
          [
            ...topics.map(
              (t) =>
                `topic   ${t.topic.padEnd(24)} ${String(t.partitions).padStart(3)} partitions  ${t.created ? 'created' : 'exists'}`,
            ),
            ...schemas.map((s) => `schema  ${s.subject.padEnd(24)} id ${s.id}  ${s.compatibility}`),
          ].join('\n'),
        );
      }),
    );
}
