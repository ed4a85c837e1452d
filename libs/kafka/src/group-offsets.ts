import type { Admin, Kafka } from 'kafkajs';
import { ConsumerGroupDescriber } from './consumer-group-describe';

export interface PartitionOffsets {
  partition: number;
  /** next offset the group will read; null when the group never committed on this partition */
  committed: number | null;
  logStart: number;
  logEnd: number;
}

export interface GroupOffsets {
  groupId: string;
  topic: string;
  /**
   * Kafka's group state: classic groups Stable, Empty, PreparingRebalance, CompletingRebalance, Dead;
   * consumer-protocol (KIP-848) groups Stable, Reconciling, Assigning, Empty; Unknown
   */
  state: string;
  members: number;
  partitions: PartitionOffsets[];
  /** when the offsets were read (ms) */
  at: number;
}

/**
 * Reads committed and log-end offsets of consumer groups, and the append time of any offset
 * (by searching ListOffsets-by-timestamp, which is exact and needs no consumer). One admin
 * connection, reused: for the lag CLI, the lag monitor and rebuild tools.
 */
export class OffsetsReader {
  private readonly admin: Admin;
  private connected = false;
  private readonly timestampCache = new Map<string, number>();
  /** KIP-848 groups: their coordinator's ConsumerGroupDescribe, on connections kept between samples */
  private readonly groups = new ConsumerGroupDescriber(() => this.brokers());

  constructor(kafka: Kafka) {
    this.admin = kafka.admin();
  }

  async connect(): Promise<void> {
    if (!this.connected) {
      await this.admin.connect();
      this.connected = true;
    }
  }

  async close(): Promise<void> {
    await this.groups.close();
    if (this.connected) await this.admin.disconnect();
    this.connected = false;
  }

  /** host:port of every broker, from the cluster's metadata */
  private async brokers(): Promise<string[]> {
    const { brokers } = await this.admin.describeCluster();
    return brokers.map((b) => `${b.host}:${b.port}`);
  }

  async listGroups(): Promise<string[]> {
    const { groups } = await this.admin.listGroups();
    return groups.map((g) => g.groupId).sort();
  }

  /** Topics a group has committed offsets for. */
  async groupTopics(groupId: string): Promise<string[]> {
    const committed = await this.admin.fetchOffsets({ groupId });
    return committed.filter((t) => t.partitions.some((p) => Number(p.offset) >= 0)).map((t) => t.topic);
  }

  async topicOffsets(topic: string): Promise<Array<{ partition: number; logStart: number; logEnd: number }>> {
    const ends = await this.admin.fetchTopicOffsets(topic);
    return ends
      .map((e) => ({ partition: e.partition, logStart: Number(e.low), logEnd: Number(e.high) }))
      .sort((a, b) => a.partition - b.partition);
  }

  async groupOffsets(groupId: string, topic: string): Promise<GroupOffsets> {
    const at = Date.now();
    const [committed, ends, described] = await Promise.all([
      this.admin.fetchOffsets({ groupId, topics: [topic] }),
      this.topicOffsets(topic),
      this.admin.describeGroups([groupId]),
    ]);
    const byPartition = new Map<number, number>();
    for (const p of committed.find((t) => t.topic === topic)?.partitions ?? []) {
      const offset = Number(p.offset);
      if (offset >= 0) byPartition.set(p.partition, offset);
    }
    // a consumer-protocol (KIP-848) group is "Dead" with no members to DescribeGroups: ask its coordinator
    let group: { state: string; members: number } | undefined = described.groups[0]
      ? { state: described.groups[0].state, members: described.groups[0].members.length }
      : undefined;
    if (!group || (group.state === 'Dead' && group.members === 0))
      group = (await this.groups.describe(groupId)) ?? group;
    return {
      groupId,
      topic,
      state: group?.state ?? 'Unknown',
      members: group?.members ?? 0,
      at,
      partitions: ends.map((e) => ({ ...e, committed: byPartition.get(e.partition) ?? null })),
    };
  }

  /** Sets a group's committed offsets (the group must have no live members), e.g. to replay. */
  async setGroupOffsets(groupId: string, topic: string, offsets: Array<{ partition: number; offset: number }>): Promise<void> {
    await this.admin.setOffsets({
      groupId,
      topic,
      partitions: offsets.map((o) => ({ partition: o.partition, offset: String(o.offset) })),
    });
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.admin.deleteGroups([groupId]);
  }

  /**
   * Append time (ms) of the record at `offset` in a partition: the largest T for which the first
   * offset with timestamp >= T is still <= offset. Binary search down to `resolutionMs`; results are
   * cached because a record's timestamp never changes. Undefined when the offset is at/after the log end.
   */
  async offsetTimestamp(topic: string, partition: number, offset: number, resolutionMs = 50): Promise<number | undefined> {
    const cacheKey = `${topic}/${partition}/${offset}`;
    const cached = this.timestampCache.get(cacheKey);
    if (cached !== undefined) return cached;
    const firstAt = async (t: number): Promise<number> => {
      const found = await this.admin.fetchTopicOffsetsByTimestamp(topic, t);
      return Number(found.find((f) => f.partition === partition)?.offset ?? Number.MAX_SAFE_INTEGER);
    };
    let hi = Date.now() + 1000;
    if ((await firstAt(hi)) <= offset) return undefined; // nothing at or after `offset` yet
    let lo = hi - 24 * 3600 * 1000;
    if ((await firstAt(lo)) > offset) lo = 0;
    while (hi - lo > resolutionMs) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await firstAt(mid)) <= offset) lo = mid;
      else hi = mid;
    }
    if (this.timestampCache.size > 50000) this.timestampCache.clear();
    this.timestampCache.set(cacheKey, lo);
    return lo;
  }
}

export function createOffsetsReader(kafka: Kafka): OffsetsReader {
  return new OffsetsReader(kafka);
}
