import type { Logger } from '@doubletap/observability';
import { TopicIdentityReader, type TopicIdentity } from './identity';

export type TopicGuardState =
  | { ok: true; identity: TopicIdentity }
  | { ok: false; reason: string; identity?: TopicIdentity };

/**
 * Watches one topic's identity for a process that writes to it: the partition count must equal the
 * pinned one (keys are routed over it), and the topic id must stay the one seen first (a topic
 * deleted and created again under the same name is another log: the stores were built from the
 * old one). While either does not hold, `state()` says why and writers refuse.
 */
export class TopicGuard {
  private current: TopicGuardState;
  private pinnedId?: string;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly reader: TopicIdentityReader;

  constructor(
    private readonly options: {
      brokers: string[];
      topic: string;
      pinnedPartitions: number;
      /** how often the identity is read again, ms */
      everyMs?: number;
      logger?: Logger;
    },
  ) {
    this.reader = new TopicIdentityReader(options.brokers);
    this.current = { ok: false, reason: `the identity of ${options.topic} has not been read yet` };
  }

  state(): TopicGuardState {
    return this.current;
  }

  /** Why writes must be refused now, or undefined. */
  refusal(): string | undefined {
    return this.current.ok ? undefined : this.current.reason;
  }

  /**
   * Reads the identity now, then every `everyMs` (every second until a first read succeeded);
   * resolves after the first attempt, whatever it found.
   */
  async start(): Promise<void> {
    this.stopped = false;
    await this.check();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    const every = this.pinnedId === undefined ? 1000 : (this.options.everyMs ?? 10_000);
    this.timer = setTimeout(() => {
      void this.check().finally(() => this.schedule());
    }, every);
    this.timer.unref();
  }

  async check(): Promise<TopicGuardState> {
    const { topic, pinnedPartitions, logger } = this.options;
    let next: TopicGuardState;
    try {
      const identity = await this.reader.describe(topic);
      if (!identity) next = { ok: false, reason: `topic ${topic} does not exist` };
      else if (identity.partitions !== pinnedPartitions)
        next = {
          ok: false,
          identity,
          reason: `${topic} has ${identity.partitions} partitions but ${pinnedPartitions} are pinned (TOPIC_PARTITIONS): writes are refused so no (post, user) moves to another partition`,
        };
      else if (this.pinnedId !== undefined && identity.topicId !== this.pinnedId)
        next = {
          ok: false,
          identity,
          reason: `${topic} was recreated (topic id ${this.pinnedId} is now ${identity.topicId}): writes are refused until the system is restarted on the new log`,
        };
      else {
        this.pinnedId ??= identity.topicId;
        next = { ok: true, identity };
      }
    } catch (e) {
      // Kafka unreachable says nothing about the topic: keep the last verdict (the producer's own
      // connection state answers for availability)
      logger?.debug({ err: e, topic }, 'topic identity could not be read');
      return this.current;
    }
    if (next.ok !== this.current.ok || (!next.ok && !this.current.ok && next.reason !== this.current.reason)) {
      if (next.ok) logger?.info({ topic, topicId: next.identity.topicId, partitions: next.identity.partitions }, 'topic identity ok');
      else logger?.error({ topic, reason: next.reason }, 'refusing writes: topic identity changed');
    }
    this.current = next;
    return next;
  }
}
