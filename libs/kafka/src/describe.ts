import { ConfigResourceTypes, type Kafka } from 'kafkajs';

export interface TopicDescription {
  topic: string;
  partitions: Array<{ partition: number; leader: number; replicas: number[]; isr: number[]; logStart: number; logEnd: number }>;
  /** every topic config with its value; `default` = not set on the topic (broker or built-in default) */
  configs: Record<string, { value: string | null; default: boolean }>;
  /** records in the log now (sum of logEnd - logStart; for a compacted topic an upper bound) */
  records: number;
}

/** Partitions (leader, replicas, ISR, log start/end) and configs of topics; missing topics are reported as such. */
export async function describeTopics(kafka: Kafka, topics: readonly string[]): Promise<{ found: TopicDescription[]; missing: string[] }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((t) => existing.has(t));
    const missing = topics.filter((t) => !existing.has(t));
    if (present.length === 0) return { found: [], missing };
    const [meta, configs] = await Promise.all([
      admin.fetchTopicMetadata({ topics: present }),
      admin.describeConfigs({
        includeSynonyms: false,
        resources: present.map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      }),
    ]);
    const found: TopicDescription[] = [];
    for (const topic of present) {
      const offsets = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, o]));
      const m = meta.topics.find((t) => t.name === topic);
      const partitions = (m?.partitions ?? [])
        .map((p) => ({
          partition: p.partitionId,
          leader: p.leader,
          replicas: p.replicas,
          isr: p.isr,
          logStart: Number(offsets.get(p.partitionId)?.low ?? 0),
          logEnd: Number(offsets.get(p.partitionId)?.high ?? 0),
        }))
        .sort((a, b) => a.partition - b.partition);
      const entries = configs.resources.find((r) => r.resourceName === topic)?.configEntries ?? [];
      found.push({
        topic,
        partitions,
        configs: Object.fromEntries(
          entries
            .map((e) => [e.configName, { value: e.configValue, default: e.isDefault }] as const)
            .sort(([a], [b]) => a.localeCompare(b)),
        ),
        records: partitions.reduce((n, p) => n + p.logEnd - p.logStart, 0),
      });
    }
    return { found, missing };
  } finally {
    await admin.disconnect();
  }
}

export interface PartitionLeader {
  partition: number;
  /** node id of the leader; -1 while the partition has none (e.g. every replica is down) */
  leader: number;
  replicas: number[];
  isr: number[];
  /** replicas the cluster knows to be unreachable */
  offline: number[];
}

/**
 * Leader, replicas and ISR of every partition of `topic`, from fresh cluster metadata: fault tests
 * use it to find the broker to kill, and to see a new leader elected and a restarted one back in
 * the ISR. A missing topic is an error (kafkajs: "This server does not host this topic-partition").
 */
export async function partitionLeaders(kafka: Kafka, topic: string): Promise<PartitionLeader[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    return (meta.topics.find((t) => t.name === topic)?.partitions ?? [])
      .map((p) => ({
        partition: p.partitionId,
        leader: p.leader,
        replicas: [...p.replicas].sort((a, b) => a - b),
        isr: [...p.isr].sort((a, b) => a - b),
        offline: [...(p.offlineReplicas ?? [])].sort((a, b) => a - b),
      }))
      .sort((a, b) => a.partition - b.partition);
  } finally {
    await admin.disconnect();
  }
}
