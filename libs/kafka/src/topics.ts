import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  partitions: number;
  config: Record<string, string>;
}

export interface TopicNames {
  events: string;
  counts: string;
  deadLetter: string;
  /** the aggregator's store changelog (omitted: not created) */
  changelog?: string;
  partitions: number;
}

/** Every topic name of a set (for setup, describe and cleanup). */
export function topicNames(names: Omit<TopicNames, 'partitions'>): string[] {
  return [names.events, names.counts, names.deadLetter, ...(names.changelog ? [names.changelog] : [])];
}

/** The topics of doubletap and their configuration (single-node: replication factor 1). */
export function topicSpecs(names: TopicNames): TopicSpec[] {
  return [
    // the source of truth: never deleted by time or size
    {
      topic: names.events,
      partitions: names.partitions,
      config: { 'cleanup.policy': 'delete', 'retention.ms': '-1', 'retention.bytes': '-1' },
    },
    // latest partial count per (post, partition): compacted
    {
      topic: names.counts,
      partitions: names.partitions,
      config: { 'cleanup.policy': 'compact', 'min.cleanable.dirty.ratio': '0.1', 'segment.ms': '600000' },
    },
    // records that could not be decoded or were invalid, with the reason in headers
    {
      topic: names.deadLetter,
      partitions: 1,
      config: { 'cleanup.policy': 'delete', 'retention.ms': String(30 * 24 * 3600 * 1000) },
    },
    // the aggregator stores' changelog: latest value per store key, kept forever; `delete` next to
    // `compact` only so that a partition's changelog can be emptied with DeleteRecords before it is
    // rewritten (Kafka refuses DeleteRecords on compact-only topics)
    ...(names.changelog
      ? [
          {
            topic: names.changelog,
            partitions: names.partitions,
            config: {
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

/** Creates missing topics; existing ones are left as they are and reported with their partition count. */
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
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((s) => ({
          topic: s.topic,
          numPartitions: s.partitions,
          replicationFactor,
          configEntries: Object.entries(s.config).map(([name, value]) => ({ name, value })),
        })),
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
