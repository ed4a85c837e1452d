import type { Command } from 'commander';
import { loadSettings } from '@doubletap/config';
import { createKafka, describeTopics, type TopicDescription, topicNames } from '@doubletap/kafka';
import { output, run } from '../output';
import { setupTopics } from './setup.command';

/** Configs worth a line in the human output (the JSON has them all). */
const SHOWN = [
  'cleanup.policy',
  'retention.ms',
  'retention.bytes',
  'min.cleanable.dirty.ratio',
  'segment.ms',
  'min.insync.replicas',
  'unclean.leader.election.enable',
];

export function renderTopics(found: TopicDescription[], missing: string[]): string {
  const lines: string[] = [];
  for (const t of found) {
    const cfg = SHOWN.filter((k) => t.configs[k]).map((k) => `${k}=${t.configs[k].value}${t.configs[k].default ? '' : '*'}`);
    lines.push(`${t.topic}: ${t.partitions.length} partitions, ${t.records} records  ${cfg.join(' ')}`);
    lines.push(`  ${'PART'.padStart(4)} ${'LEADER'.padStart(6)} ${'REPLICAS'.padEnd(9)} ${'ISR'.padEnd(9)} ${'LOG-START'.padStart(10)} ${'LOG-END'.padStart(10)}`);
    for (const p of t.partitions)
      lines.push(
        `  ${String(p.partition).padStart(4)} ${String(p.leader).padStart(6)} ${p.replicas.join(',').padEnd(9)} ${p.isr.join(',').padEnd(9)} ${String(p.logStart).padStart(10)} ${String(p.logEnd).padStart(10)}`,
      );
  }
  for (const m of missing) lines.push(`${m}: MISSING (run \`doubletap topics setup\`)`);
  lines.push('(* = set on the topic, otherwise the broker default)');
  return lines.join('\n');
}

export function registerTopics(program: Command): void {
  const topics = program.command('topics').description('describe the topics (default) or create them: topics [describe|setup]');
  topics
    .command('describe', { isDefault: true })
    .description('partitions (leader, replicas, ISR, log start/end offsets) and configs of likes.events, likes.counts and the dead letters')
    .option('--json', 'print one JSON document')
    .action((opts: { json?: boolean }) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const settings = loadSettings();
        const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'doubletap-cli' });
        const { found, missing } = await describeTopics(kafka, topicNames(settings.topics));
        out.result({ topics: found, missing }, () => renderTopics(found, missing));
        return missing.length > 0 ? 1 : 0;
      }),
    );
  topics
    .command('setup')
    .description('create the missing topics with their configs (existing ones are left as they are); idempotent')
    .option('--json', 'print one JSON document')
    .action((opts: { json?: boolean }) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const created = await setupTopics(loadSettings());
        out.result({ topics: created }, () =>
          created.map((t) => `topic   ${t.topic.padEnd(24)} ${String(t.partitions).padStart(3)} partitions  ${t.created ? 'created' : 'exists'}`).join('\n'),
        );
      }),
    );
}

