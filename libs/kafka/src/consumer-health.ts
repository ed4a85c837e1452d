import { gauge, type Registry } from '@doubletap/observability';
import type { ConsumerStatus } from './batch-consumer';

/**
 * What /health and /ready say about a consumer-group member, whichever client it runs on (the
 * aggregator and the projector both ask). A consumer is judged by its state and by how long its group
 * coordinator has been silent: a member whose heartbeats go unanswered (the coordinator moved and
 * the client keeps asking the old one, a broker paused, a network cut) still says `running`, but
 * after one session without an answer the group has given its partitions to others, and a member
 * that never hears from the coordinator again will never consume again. ADR 0028.
 */
export interface ConsumerHealthLimits {
  /** the group session (KAFKA_SESSION_TIMEOUT_MS): silent longer than this = owns nothing = not ready */
  sessionTimeoutMs: number;
  /** silent longer than this = not alive: a restart finds the coordinator afresh (0 = never) */
  silenceMaxMs: number;
}

/** How long the coordinator has not answered a running member (0 when not running or just joined). */
export function coordinatorSilenceMs(status: ConsumerStatus, now = Date.now()): number {
  if (status.state !== 'running') return 0;
  // `since` is when it joined (an answer too); a member that never heard a heartbeat answer since
  // counts from there
  const last = Math.max(status.since, status.lastGroupAnswer ?? 0);
  return Math.max(0, now - last);
}

/** Why the consumer is not alive (liveness), or undefined while it is. */
export function consumerDead(status: ConsumerStatus, limits: ConsumerHealthLimits, now = Date.now()): string | undefined {
  if (status.state === 'restarting') return `the consumer crashed and is restarting (${status.lastError ?? 'unknown error'})`;
  if (status.state === 'stopped') return 'the consumer stopped';
  const silent = coordinatorSilenceMs(status, now);
  if (limits.silenceMaxMs > 0 && silent > limits.silenceMaxMs)
    return `the group coordinator has not answered for ${seconds(silent)} (limit ${seconds(limits.silenceMaxMs)}): the consumer cannot take part in its group`;
  return undefined;
}

/** Why the consumer cannot serve (readiness), or undefined when it can. */
export function consumerNotReady(status: ConsumerStatus, limits: ConsumerHealthLimits, now = Date.now()): string | undefined {
  const dead = consumerDead(status, limits, now);
  if (dead) return dead;
  if (status.state !== 'running') return `the consumer is ${status.state}`;
  const silent = coordinatorSilenceMs(status, now);
  if (silent > limits.sessionTimeoutMs)
    return `the group coordinator has not answered for ${seconds(silent)}, longer than the ${seconds(limits.sessionTimeoutMs)} session: the group may have given this member's partitions away`;
  return undefined;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

/**
 * `doubletap_consumer_coordinator_silence_seconds`: how long the group coordinator has not answered
 * the app's consumer, computed at each scrape (alert DoubletapConsumerCoordinatorSilent).
 */
export function coordinatorSilenceGauge(registry: Registry, status: () => ConsumerStatus): void {
  gauge(
    registry,
    'doubletap_consumer_coordinator_silence_seconds',
    'seconds since the consumer group coordinator last answered this member (0 while not running: see /health)',
    [],
    (g) => g.set(coordinatorSilenceMs(status()) / 1000),
  );
}
