import { Injectable } from '@nestjs/common';
import { ID_PATTERN, isValidId, type LikeAction, uuidv7 } from '@doubletap/events';
import { ProducerOverloadedError, ProducerUnavailableError } from '@doubletap/kafka';
import { ProblemException, unavailable } from '../http/problem';
import { EventProducer } from './event-producer.service';
import type { LikeAccepted } from './like-accepted.dto';
import { RateLimiter } from './rate-limiter.service';

@Injectable()
export class LikesService {
  constructor(
    private readonly producer: EventProducer,
    private readonly rateLimiter: RateLimiter,
  ) {}

  /** Validates, rate-limits and produces one LikeEvent; resolves only after Kafka acknowledged it. */
  async accept(action: LikeAction, postId: string, userId: string, body: unknown): Promise<LikeAccepted> {
    if (!isValidId(postId))
      throw new ProblemException(
        400,
        'invalid-id',
        `postId ${JSON.stringify(postId)} does not match ${String(ID_PATTERN)}`,
      );
    assertNoBody(body);
    await this.rateLimiter.take(userId);
    if (!this.producer.schemaReady)
      throw unavailable('the LikeEvent schema id is not resolved yet (schema registry unreachable)');
    const event = { eventId: uuidv7(), postId, userId, action, occurredAt: Date.now() };
    try {
      await this.producer.produce(event);
    } catch (e) {
      if (e instanceof ProducerOverloadedError) throw unavailable(`overloaded: ${e.message}`, 1);
      if (e instanceof ProducerUnavailableError)
        throw unavailable(`Kafka cannot take the write: ${e.message}`, 2);
      throw e;
    }
    return { eventId: event.eventId, postId, userId, action, acceptedAt: new Date().toISOString() };
  }
}

/** No body is needed; an empty JSON object is tolerated, anything else is a client mistake. */
function assertNoBody(body: unknown): void {
  if (body === undefined || body === null || body === '') return;
  if (typeof body !== 'object' || Array.isArray(body))
    throw new ProblemException(
      400,
      'unexpected-body',
      'the request body must be empty or a JSON object with no fields',
    );
  const fields = Object.keys(body);
  if (fields.length > 0)
    throw new ProblemException(
      400,
      'unexpected-field',
      `unexpected field ${fields.map((f) => JSON.stringify(f)).join(', ')}: this endpoint takes no body (the viewer comes from the bearer token)`,
    );
}
