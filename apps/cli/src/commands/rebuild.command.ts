import type { Command } from 'commander';
import { loadSettings, type Settings } from '@doubletap/config';
import { EventCodec } from '@doubletap/events';
import { createKafka } from '@doubletap/kafka';
import { createLogger } from '@doubletap/observability';
import { createRedis, redisReady, type Redis } from '@doubletap/redis';
import { planReadSide, rebuildReadSide, replayReadSide, type ReadSideDeps } from '../ops/read-side-rebuild';
import { planState, rebuildState, type StateDeps } from '../ops/state-rebuild';
import { output, run } from '../output';

interface RebuildOptions {
  target: string;
  from: string;
  partitions?: string;
  dataDir?: string;
  discardOld?: boolean;
  grace: string;
  dryRun?: boolean;
  json?: boolean;
}

const TARGETS = ['read-side', 'state', 'all'] as const;
type Target = (typeof TARGETS)[number];

export function parsePartitions(raw: string | undefined): number[] | undefined {
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((s) => s.trim());
  const out: number[] = [];
  for (const p of parts) {
    const range = /^(\d+)-(\d+)$/.exec(p);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (a > b) throw new Error(`--partitions ${raw}: range ${p} is backwards`);
      for (let i = a; i <= b; i++) out.push(i);
    } else if (/^\d+$/.test(p)) out.push(Number(p));
    else throw new Error(`--partitions ${raw}: "${p}" is not a partition number or range (e.g. 0,3,5-7)`);
  }
  return [...new Set(out)].sort((a, b) => a - b);
}

/** `earliest` → undefined; an ISO 8601 time → Date; anything else fails. */
export function parseFrom(raw: string): Date | undefined {
  if (raw === 'earliest') return undefined;
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(raw)) throw new Error(`--from ${raw} is neither "earliest" nor an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)`);
  const d = new Date(raw);
  if (Number.isNaN(d.getTime())) throw new Error(`--from ${raw} is not a valid time`);
  if (d.getTime() > Date.now()) throw new Error(`--from ${raw} is in the future`);
  return d;
}

const ranges = (read: Array<{ partition: number; from: number; to: number; records: number }>) =>
  read
    .map((r) =>
      r.records > 0
        ? `  p${String(r.partition).padEnd(3)} offsets ${r.from}..${r.to - 1}  ${r.records} records`
        : `  p${String(r.partition).padEnd(3)} nothing to read (log end ${r.to})`,
    )
    .join('\n');

function interruptible(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let hits = 0;
  const onSigint = () => {
    hits++;
    if (hits === 1) {
      process.stderr.write('\ninterrupting: finishing the batch in flight and saving the checkpoint (Ctrl-C again to quit at once)\n');
      controller.abort();
    } else process.exit(130);
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description(
      'rebuild derived state from the log: the Redis read side (new generation from likes.counts, atomic switch) and/or the aggregator stores (replay of likes.events)',
    )
    .requiredOption('-t, --target <target>', 'read-side | state | all (state first, then read-side)')
    .option(
      '--from <earliest|time>',
      'earliest (a full rebuild); an ISO time = read-side only: replay likes.counts since then into the served generation (after restoring a Redis snapshot)',
      'earliest',
    )
    .option('-p, --partitions <list>', 'state: likes.events partitions to rebuild, e.g. 0,3,5-7 (default: all)')
    .option('--data-dir <dir>', 'state: the aggregator data dir on this machine (default: AGGREGATOR_DATA_DIR)')
    .option('--discard-old', 'state: delete the replaced stores instead of moving them aside')
    .option('--grace <seconds>', 'read-side: wait after the switch before deleting the old generation', '2')
    .option('--dry-run', 'say what would be read and written; change nothing')
    .option('--json', 'print one JSON document (progress stays on stderr)')
    .addHelpText(
      'after',
      `
Refuses (exit 1, one line) when:
  state      the aggregator consumer group has live members (stop the aggregators first)
  state      --from is a time (a store is exact only when replayed from the earliest offset)
  read-side  --partitions is given (a generation is always complete)
Interrupted (Ctrl-C, crash)? Rerun the same command: it resumes (read side: checkpoint in Redis;
state: the stores' meta/offset and <data-dir>/rebuild-state.json).`,
    )
    .action((opts: RebuildOptions) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        if (!(TARGETS as readonly string[]).includes(opts.target)) throw new Error(`--target ${opts.target}: expected read-side, state or all`);
        const target = opts.target as Target;
        const from = parseFrom(opts.from);
        const partitions = parsePartitions(opts.partitions);
        const grace = Number(opts.grace);
        if (!Number.isFinite(grace) || grace < 0) throw new Error(`--grace ${opts.grace} is not a number of seconds >= 0`);
        if (target !== 'read-side' && from)
          throw new Error(
            `--from ${opts.from} with --target ${target}: a state rebuild must replay from the earliest offset (a store is exact only when it has seen every event); only the read side can replay from a time`,
          );
        if (target === 'read-side' && partitions)
          throw new Error('--partitions applies to --target state: a read-side generation is always built from every partition of likes.counts');

        const settings = loadSettings();
        const kafka = createKafka({ brokers: settings.kafka.brokers, clientId: 'doubletap-rebuild' });
        const codec = new EventCodec(settings.registry.url, settings.topics);
        await codec.init();
        let redis: Redis | undefined;
        const openRedis = async () => {
          redis ??= createRedis({ url: settings.redis.url, name: 'doubletap-rebuild', offlineQueue: true, commandTimeoutMs: 30000 });
          await redisReady(redis);
          return redis;
        };
        const stop = interruptible();
        try {
          const readSide = async (): Promise<ReadSideDeps> => ({
            kafka,
            codec,
            redis: await openRedis(),
            prefix: settings.redis.keyPrefix,
            topic: settings.topics.counts,
            info: (line) => out.info(line),
            graceMs: grace * 1000,
            signal: stop.signal,
          });
          const state = (): StateDeps => ({
            kafka,
            brokers: settings.kafka.brokers,
            pinnedPartitions: settings.topics.partitions,
            changelogTopic: settings.topics.changelog,
            codec,
            topics: settings.topics,
            groupId: settings.aggregator.groupId,
            dataDir: opts.dataDir ?? settings.aggregator.dataDir,
            partitions,
            discardOld: opts.discardOld,
            logger: createLogger('rebuild', settings.logLevel === 'info' ? 'warn' : settings.logLevel, 'stderr'),
            info: (line) => out.info(line),
            signal: stop.signal,
          });
          return await execute(target, from, Boolean(opts.dryRun), settings, out, readSide, state);
        } finally {
          stop.dispose();
          if (redis) await redis.quit().catch(() => undefined);
        }
      }),
    );
}

async function execute(
  target: Target,
  from: Date | undefined,
  dryRun: boolean,
  settings: Settings,
  out: ReturnType<typeof output>,
  readSide: () => Promise<ReadSideDeps>,
  state: () => StateDeps,
): Promise<number> {
  const docs: unknown[] = [];
  const human: string[] = [];
  if (dryRun) {
    let refused = false;
    if (target !== 'read-side') {
      const p = await planState(state());
      delete p.marker;
      docs.push(p);
      refused = Boolean(p.refused);
      human.push(
        `state: would read ${p.records} records of ${p.topic} (group ${p.group.groupId}: ${p.group.members} members, ${p.group.state})`,
        ranges(p.read),
        `  would write: ${p.writes}`,
        ...(p.refused ? [`  would REFUSE: ${p.refused}`] : []),
      );
    }
    if (target !== 'state') {
      if (from) {
        const r = await replayReadSide(await readSide(), from, true);
        docs.push(r);
        human.push(`read-side: would replay ${r.records} records of ${r.topic} since ${r.from} into the served generation ${r.generation}`, ranges(r.read));
      } else {
        const p = await planReadSide(await readSide());
        docs.push(p);
        human.push(
          `read-side: would read ${p.records} records of ${p.topic}${p.resume ? ' (resuming an interrupted build)' : ''}; generation ${p.currentGeneration} (${p.currentKeys} posts) is served now`,
          ranges(p.read),
          `  would write: ${p.writes}`,
        );
      }
    }
    out.result({ dryRun: true, settings: { prefix: settings.redis.keyPrefix }, plans: docs }, () => human.join('\n'));
    return refused ? 3 : 0;
  }
  if (target !== 'read-side') {
    const r = await rebuildState(state());
    docs.push(r);
    human.push(
      `state: ${r.records} records replayed in ${r.seconds.toFixed(1)}s (${Math.round(r.recordsPerSecond)} records/s)${r.replacedStoresAt ? `; replaced stores kept at ${r.replacedStoresAt}` : ''}`,
      ...r.partitions.map(
        (p) => `  p${String(p.partition).padEnd(3)} ${p.mode.padEnd(6)} ${String(p.records).padStart(9)} records  stored offset ${p.storedOffset ?? '-'}  ${p.posts} posts  ${p.likes} likes`,
      ),
    );
  }
  if (target !== 'state') {
    if (from) {
      const r = await replayReadSide(await readSide(), from, false);
      docs.push(r);
      human.push(`read-side: replayed ${r.records} records since ${r.from} into generation ${r.generation}: ${r.applied} applied (${Math.round(r.recordsPerSecond)} records/s)`);
    } else {
      const r = await rebuildReadSide(await readSide());
      docs.push(r);
      human.push(
        `read-side: generation ${r.from.generation} → ${r.to.generation}: ${r.records} records read (${Math.round(r.recordsPerSecond)} records/s), ${r.to.keys} posts; catch-up ${r.catchUp.records} records; ${r.oldKeysDeleted} old keys deleted${r.invalid ? `; ${r.invalid} undecodable records skipped` : ''}`,
      );
    }
  }
  out.result({ dryRun: false, results: docs }, () => human.join('\n'));
  return 0;
}
