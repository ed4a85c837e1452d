import type { LikeEvent } from '@doubletap/events';

/**
 * Where like and unlike events are appended: the likes.events log. `append` resolves only when
 * the log acknowledged the event (acks=all), and rejects with the producer's
 * ProducerOverloadedError or ProducerUnavailableError (@doubletap/kafka) when it cannot take it.
 */
export interface LikeEventRepository {
  /** false until events can be encoded (the LikeEvent schema id is resolved) */
  readonly ready: boolean;
  /** messages waiting for or in a produce request (an admission signal: docs/adr/0011) */
  readonly queueDepth: number;
  append(event: LikeEvent): Promise<void>;
}

/** Injection token of the LikeEventRepository (production: KafkaLikeEventRepository). */
export const LikeEventRepository = Symbol('LikeEventRepository');
