import type { Admin, Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  partitions: number;
  config: Record<string, string>;
  /** replicas per partition; absent: the factor `ensureTopics` is given (default 1) */
  replicationFactor?: number;
}

export interface TopicNames {
  events: string;
  counts: string;
  deadLetter: string;
  /** the aggregator's store changelog (omitted: not created) */
  changelog?: string;
  partitions: number;
  /** settings.topics carries it (TOPIC_REPLICATION_FACTOR); topicSpecs' own argument wins */
  replicationFactor?: number;
}

/** Every topic name of a set (for setup, describe and cleanup). */
export function topicNames(names: Omit<TopicNames, 'partitions'>): string[] {
  return [names.events, names.counts, names.deadLetter, ...(names.changelog ? [names.changelog] : [])];
}

/**
 * The durability configs a topic gets for its replication factor (a topic's own config wins):
 * - RF >= 3: `min.insync.replicas=2`, so an acks=all write is on two replicas before it is
 *   acknowledged and one broker may be down without refusing writes; unclean leader election off,
 *   so a replica that missed acknowledged writes never becomes leader (a 202 would be lost).
 * - RF 2: `min.insync.replicas=1` (set explicitly: a cluster default of 2 would stop all writes
 *   whenever either broker is down) and unclean election off. An acks=all write may then be on one
 *   replica only while the other is out of the ISR: RF 2 trades durability for availability; use 3.
 * - RF 1: nothing (there is no other replica to wait for or to elect).
 */
export function durabilityConfig(replicationFactor: number): Record<string, string> {
  if (replicationFactor >= 3)
    return { 'min.insync.replicas': '2', 'unclean.leader.election.enable': 'false' };
  if (replicationFactor === 2)
    return { 'min.insync.replicas': '1', 'unclean.leader.election.enable': 'false' };
  return {};
}

/**
 * The topics of doubletap and their configuration, for a replication factor (default: the
 * one in `names`, else 1 for the single-node stack) with the durability configs that go with it.
 */
export function topicSpecs(names: TopicNames, replicationFactor = names.replicationFactor ?? 1): TopicSpec[] {
  const durable = durabilityConfig(replicationFactor);
  return [
    // the source of truth: never deleted by time or size
    {
      topic: names.events,
      partitions: names.partitions,
      replicationFactor,
      config: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1', ...durable },
    },
    // latest partial count per (post, partition): compacted
    {
      topic: names.counts,
      partitions: names.partitions,
      replicationFactor,
      config: {
        'cleanup.policy': 'compact',
        'min.cleanable.dirty.ratio': '0.1',
        'segment.ms': '600000',
        ...durable,
      },
    },
    // records that could not be decoded or were invalid, with the reason in headers
    {
      topic: names.deadLetter,
      partitions: 1,
      replicationFactor,
      config: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * 24 * 3600 * 1000), ...durable },
    },
    // the aggregator stores' changelog: latest value per store key, kept forever; `delete` next to
    // `compact` only so that a partition's changelog can be emptied with DeleteRecords before it is
    // rewritten (Kafka refuses DeleteRecords on compact-only topics)
    ...(names.changelog
      ? [
          {
            topic: names.changelog,
            partitions: names.partitions,
            replicationFactor,
            config: {
              ...durable,
              'cleanup.policy': 'compact,delete',
              'retention.ms': '-1',
              'retention.bytes': '-1',
              'min.cleanable.dirty.ratio': '0.1',
              'segment.bytes': String(64 * 1024 * 1024),
              'segment.ms': '600000',
            },
          },
        ]
      : []),
  ];
}

export interface EnsureResult {
  topic: string;
  created: boolean;
  partitions: number;
}

/**
 * Creates missing topics; existing ones are left as they are (configs included) and reported with
 * their partition count. Each topic gets its spec's replication factor, else `replicationFactor`,
 * and the durability configs of that factor (`durabilityConfig`) beneath its own config.
 */
export async function ensureTopics(
  kafka: Kafka,
  specs: TopicSpec[],
  replicationFactor = 1,
): Promise<EnsureResult[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = specs.filter((s) => !existing.has(s.topic));
    if (missing.length > 0) {
      await admin
        .createTopics({
          waitForLeaders: true,
          topics: missing.map((s) => {
            const rf = s.replicationFactor ?? replicationFactor;
            const config = { ...durabilityConfig(rf), ...s.config };
            return {
              topic: s.topic,
              numPartitions: s.partitions,
              replicationFactor: rf,
              configEntries: Object.entries(config).map(([name, value]) => ({ name, value })),
            };
          }),
        })
        .catch(async (e: unknown) => {
          // kafkajs waits for the leaders by asking one broker, and a broker that has not heard of
          // the new topic yet answers UNKNOWN_TOPIC_OR_PARTITION, which kafkajs does not retry: the
          // topics exist; wait for their leaders here (seen once under load in CI)
          if ((e as { type?: string }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw e;
          await untilLeaders(admin, missing.map((m) => m.topic));
        });
    }
    const meta = await admin.fetchTopicMetadata({ topics: specs.map((s) => s.topic) });
    return specs.map((s) => ({
      topic: s.topic,
      created: missing.includes(s),
      partitions: meta.topics.find((t) => t.name === s.topic)?.partitions.length ?? 0,
    }));
  } finally {
    await admin.disconnect();
  }
}

/** Until every partition of `topics` has a leader in the metadata (30 s at most). */
async function untilLeaders(admin: Admin, topics: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const meta = await admin.fetchTopicMetadata({ topics });
      if (meta.topics.length === topics.length && meta.topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0)))
        return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
    }
    if (Date.now() > deadline) throw new Error(`topics ${topics.join(', ')} have no leaders after 30 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    if (present.length > 0) await admin.deleteTopics({ topics: present, timeout: 10000 });
  } finally {
    await admin.disconnect();
  }
}

export async function partitionCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return meta.topics[0]?.partitions.length ?? 0;
  } finally {
    await admin.disconnect();
  }
}

/** Raises `topic` to `count` partitions (an operator's action; the apps refuse the changed count, ADR 0010). */
export async function addPartitions(kafka: Kafka, topic: string, count: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createPartitions({ topicPartitions: [{ topic, count }] });
  } finally {
    await admin.disconnect();
  }
}
