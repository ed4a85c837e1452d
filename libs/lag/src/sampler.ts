import type { OffsetsReader } from '@doubletap/kafka';
import { evaluateGroup, evaluatePartition, lagOf, type GroupStatus, type PartitionStatus } from './status';
import { ObservationWindows } from './window';

export interface PartitionLag {
  partition: number;
  committed: number | null;
  logEnd: number;
  lag: number;
  /** age of the oldest unconsumed record (0 when caught up) */
  lagSeconds: number;
  status: PartitionStatus;
  reason: string;
}

export interface GroupLag {
  group: string;
  topic: string;
  state: string;
  members: number;
  at: string;
  totalLag: number;
  maxLagSeconds: number;
  status: GroupStatus;
  partitions: PartitionLag[];
}

/**
 * One sample of a group's lag: offsets from Kafka, lag in messages, lag in seconds as the age of
 * the first unconsumed record (looked up exactly, not interpolated), and a status from the window
 * of earlier samples kept in `windows`.
 */
export class LagSampler {
  constructor(
    private readonly reader: OffsetsReader,
    readonly windows = new ObservationWindows(),
  ) {}

  async sample(group: string, topic: string): Promise<GroupLag> {
    const offsets = await this.reader.groupOffsets(group, topic);
    const active = offsets.members > 0;
    const partitions = await Promise.all(
      offsets.partitions.map(async (p): Promise<PartitionLag> => {
        const observation = { at: offsets.at, committed: p.committed, logEnd: p.logEnd, active };
        const lag = lagOf(observation);
        let lagSeconds = 0;
        if (lag > 0) {
          const next = Math.max(p.committed ?? p.logStart, p.logStart);
          const appended = await this.reader.offsetTimestamp(topic, p.partition, next);
          lagSeconds = appended === undefined ? 0 : Math.max(0, (offsets.at - appended) / 1000);
        }
        const verdict = evaluatePartition(this.windows.add(group, topic, p.partition, observation));
        return { partition: p.partition, committed: p.committed, logEnd: p.logEnd, lag, lagSeconds, ...verdict };
      }),
    );
    return {
      group,
      topic,
      state: offsets.state,
      members: offsets.members,
      at: new Date(offsets.at).toISOString(),
      totalLag: partitions.reduce((n, p) => n + p.lag, 0),
      maxLagSeconds: partitions.reduce((m, p) => Math.max(m, p.lagSeconds), 0),
      status: evaluateGroup(partitions.map((p) => p.status)),
      partitions,
    };
  }
}
