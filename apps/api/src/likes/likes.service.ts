import { Inject, Injectable } from '@nestjs/common';
import { type LikeAction, uuidv7 } from '@doubletap/events';
import { ProducerOverloadedError, ProducerUnavailableError } from '@doubletap/kafka';
import { AdmissionControl } from '../http/admission';
import { ProblemException } from '../http/problem';
import { unavailable } from '../http/problem-types';
import { LikeEventRepository } from './like-event.repository';
import type { LikeAccepted } from './likes.dto';
import { RateLimiter } from './rate-limiter.service';

@Injectable()
export class LikesService {
  constructor(
    @Inject(LikeEventRepository) private readonly events: LikeEventRepository,
    private readonly rateLimiter: RateLimiter,
    private readonly admission: AdmissionControl,
  ) {}

  /**
   * Rate-limits and appends one LikeEvent (postId already checked by IdPipe); resolves only after
   * Kafka acknowledged it.
   */
  async accept(action: LikeAction, postId: string, userId: string, body: unknown): Promise<LikeAccepted> {
    assertNoBody(body);
    await this.rateLimiter.take(userId);
    if (!this.events.ready)
      throw unavailable('the LikeEvent schema id is not resolved yet (schema registry unreachable)');
    const event = { eventId: uuidv7(), postId, userId, action, occurredAt: Date.now() };
    try {
      await this.events.append(event);
    } catch (e) {
      // refused before it was queued: a definite refusal, like admission control's
      if (e instanceof ProducerOverloadedError) throw this.admission.refuse('producer-queue', e.message);
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
