import type { Command } from 'commander';
import { loadSettings, type Settings } from '@doubletap/config';
import { createKafka, createOffsetsReader } from '@doubletap/kafka';
import { LagSampler, type GroupLag } from '@doubletap/lag';
import { output, run } from '../output';

interface LagOptions {
  group?: string[];
  topic?: string;
  watch?: boolean;
  interval: string;
  json?: boolean;
  strict?: boolean;
}

/** The project's groups and the topic each consumes. */
export function defaultTargets(settings: Settings): Array<{ group: string; topic: string }> {
  return [
    { group: settings.aggregator.groupId, topic: settings.topics.events },
    { group: settings.projector.groupId, topic: settings.topics.counts },
  ];
}

export function renderLag(samples: GroupLag[]): string {
  const lines: string[] = [];
  for (const g of samples) {
    lines.push(`${g.group} on ${g.topic}: ${g.status}  state=${g.state} members=${g.members} lag=${g.totalLag} max=${g.maxLagSeconds.toFixed(1)}s`);
    lines.push(`  ${'PART'.padStart(4)} ${'COMMITTED'.padStart(10)} ${'LOG-END'.padStart(10)} ${'LAG'.padStart(8)} ${'LAG-S'.padStart(8)}  STATUS  REASON`);
    for (const p of g.partitions) {
      lines.push(
        `  ${String(p.partition).padStart(4)} ${String(p.committed ?? '-').padStart(10)} ${String(p.logEnd).padStart(10)} ${String(p.lag).padStart(8)} ${p.lagSeconds.toFixed(1).padStart(8)}  ${p.status.padEnd(6)}  ${p.reason}`,
      );
    }
  }
  return lines.join('\n');
}

export function registerLag(program: Command): void {
  program
    .command('lag')
    .description('consumer lag per partition: committed, log end, lag in messages and seconds, Burrow-style status')
    .option('-g, --group <group...>', 'consumer group(s) (default: the aggregator and projector groups)')
    .option('-t, --topic <topic>', 'topic of --group (default: the topic the group has offsets for)')
    .option('-w, --watch', 'sample every --interval seconds until interrupted (status needs a few samples)')
    .option('-i, --interval <seconds>', 'seconds between samples with --watch', '5')
    .option('--strict', 'exit 3 when any group is not OK')
    .option('--json', 'one JSON document (with --watch: one document per line; a failed sample is {"at", "error"})')
    .action((opts: LagOptions) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const settings = loadSettings();
        const interval = Number(opts.interval);
        if (!Number.isFinite(interval) || interval < 0.5) throw new Error(`--interval ${opts.interval} must be a number >= 0.5`);
        const reader = createOffsetsReader(createKafka({ brokers: settings.kafka.brokers, clientId: 'doubletap-lag' }));
        await reader.connect();
        try {
          let targets = defaultTargets(settings);
          if (opts.group) {
            targets = [];
            for (const group of opts.group) {
              const topics = opts.topic ? [opts.topic] : await reader.groupTopics(group);
              if (topics.length === 0) throw new Error(`group ${group} has no committed offsets; name its topic with --topic`);
              for (const topic of topics) targets.push({ group, topic });
            }
          }
          const sampler = new LagSampler(reader);
          const sampleAll = () => Promise.all(targets.map((t) => sampler.sample(t.group, t.topic)));
          if (!opts.watch) {
            const samples = await sampleAll();
            out.result({ groups: samples }, () => renderLag(samples));
            return opts.strict && samples.some((s) => s.status !== 'OK') ? 3 : 0;
          }
          let stop = false;
          process.once('SIGINT', () => (stop = true));
          while (!stop) {
            // a sample that fails (a broker or the group's coordinator not answering) is reported and
            // the next one tried: watching is for the moments when something is wrong
            let samples: GroupLag[] | undefined;
            let error: string | undefined;
            try {
              samples = await sampleAll();
            } catch (e) {
              error = e instanceof Error ? e.message : String(e);
            }
            const at = new Date().toISOString();
            if (opts.json) process.stdout.write(`${JSON.stringify(samples ? { groups: samples } : { at, error })}\n`);
            else
              process.stdout.write(
                `${process.stdout.isTTY ? '\x1b[2J\x1b[H' : ''}${at}\n${samples ? renderLag(samples) : `sample failed (trying again in ${interval} s): ${error}`}\n\n`,
              );
            for (let waited = 0; waited < interval * 1000 && !stop; waited += 100) await new Promise((r) => setTimeout(r, 100));
          }
        } finally {
          await reader.close();
        }
      }),
    );
}
