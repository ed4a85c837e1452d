import { ID_PATTERN } from '@doubletap/events';
import { ProblemException } from './problem';

export { PROBLEM_TYPES, type ProblemSlug } from '@doubletap/problems';

/** A dependency cannot answer (Kafka, the registry, Redis) or the server is shutting down. */
export const unavailable = (detail: string, retryAfterSec = 1): ProblemException =>
  new ProblemException(503, 'unavailable', detail, { 'retry-after': String(retryAfterSec) });

/**
 * Past capacity (admission control, or the producer's full queue): the write was refused before
 * anything was produced. Retry-After is whole seconds (at least 1); `retryAfterMs` is the hint in
 * milliseconds for clients that can use it.
 */
export const overloaded = (reason: string, detail: string, retryAfterMs: number): ProblemException =>
  new ProblemException(
    503,
    'overloaded',
    `the api is past capacity: ${detail}; nothing was written, retry after ${retryAfterMs} ms`,
    { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) },
    { reason, retryAfterMs },
  );

/** `what` names the parameter as the client sent it: postId, post, user, post id (a list entry). */
export const invalidId = (what: string, id: unknown): ProblemException =>
  new ProblemException(
    400,
    'invalid-id',
    `${what} ${JSON.stringify(id)} does not match ${String(ID_PATTERN)}`,
  );

export const rateLimited = (userId: string, limit: string, retryAfterSec: number): ProblemException =>
  new ProblemException(
    429,
    'rate-limited',
    `user ${userId} exceeded the rate limit of ${limit}; retry in ${retryAfterSec}s`,
    { 'retry-after': String(retryAfterSec) },
  );

/** No partial total is ever served while the read side heals (ADR 0008). */
export const readSideHealing = (
  reason: string,
  progress: { restored: number; partitions: number | null },
  retryAfterSec: number,
): ProblemException =>
  new ProblemException(
    503,
    'read-side-healing',
    `the like counts are being restored after a loss of the read model (${reason}); no partial count is served, retry shortly`,
    { 'retry-after': String(retryAfterSec) },
    { restored: progress.restored, partitions: progress.partitions },
  );
