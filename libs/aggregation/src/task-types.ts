import type { Kafka } from '@doubletap/kafka';
import type { Logger } from '@doubletap/observability';
import type { ChangelogIO } from './changelog';
import type { AggregatorMetrics } from './metrics';
import type { CatchUpProgress } from './progress';
import type { OpenSender } from './record-collector';
import type { AggregatorCodec, AggregatorTopics, InputTopicView, PartitionControl, Refusal } from './types';

export type Phase =
  | { kind: 'opening' }
  /** applying the log up to `target - 1` (the log end when the partition was taken); output deferred */
  | { kind: 'catching-up'; progress: CatchUpProgress }
  | { kind: 'live' }
  | { kind: 'stopped'; refusal: Refusal; since: number }
  | { kind: 'closed' };

export interface TaskDeps {
  partition: number;
  /** the partition count of the input topic that keys are routed over */
  pinned: number;
  dataDir: string;
  topics: AggregatorTopics;
  codec: AggregatorCodec;
  kafka: Kafka;
  /** how output producers are opened (default: kafkajs transactional producers on `kafka`) */
  openSender?: OpenSender;
  /** the partition's transactional id: the same for every owner, so a new owner fences the old */
  transactionalId: string;
  input: InputTopicView;
  /** the store changelog (unset: the store is not logged; tools that only replay) */
  changelog?: ChangelogIO;
  changelogTopic?: string;
  /** recompute the store from the input log and rewrite the changelog (a state rebuild) */
  rebuild?: boolean;
  control: () => PartitionControl | undefined;
  logger: Logger;
  metrics: AggregatorMetrics;
  /** dirty posts published per transaction when a catch-up ends */
  flushChunk?: number;
  progressEveryMs?: number;
  backoffMs?: { initial: number; max: number };
  /** fault injection for crash tests */
  faults?: { afterOutput?: (partition: number) => void; afterCommit?: (partition: number) => void };
}

/** What one batch did: applied (offsets may be committed) or held (not applied; do not commit). */
export type BatchOutcome = 'applied' | 'held';

