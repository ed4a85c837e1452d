/**
 * Classifications of Kafka client errors that the rest of the system acts on. Walks wrapped errors
 * (kafkajs wraps the broker's error in retry and aggregate errors).
 */
function* causes(e: unknown, depth = 0): Generator<Record<string, unknown>> {
  if (depth > 5 || e === null || typeof e !== 'object') return;
  const o = e as Record<string, unknown>;
  yield o;
  for (const key of ['cause', 'originalError', 'error']) if (o[key]) yield* causes(o[key], depth + 1);
  if (Array.isArray(o.errors)) for (const inner of o.errors) yield* causes(inner, depth + 1);
}

const FENCING_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);

/** A newer producer with the same transactional id exists: this one must never write again. */
export function isFencingError(e: unknown): boolean {
  for (const o of causes(e)) {
    if (typeof o.type === 'string' && FENCING_TYPES.has(o.type)) return true;
    if (o.code === 47 || o.code === 90) return true;
    if (typeof o.message === 'string' && /producer.*fenced|fenced.*producer|old epoch/i.test(o.message)) return true;
  }
  return false;
}

const MEMBERSHIP_TYPES = new Set(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'REBALANCE_IN_PROGRESS', 'FENCED_INSTANCE_ID']);

/**
 * The group coordinator said this member is not (or no longer) in the group's current generation:
 * it was evicted, replaced, or a rebalance is under way. Not "the coordinator is unreachable".
 */
export function isMembershipError(e: unknown): boolean {
  for (const o of causes(e)) {
    if (typeof o.type === 'string' && MEMBERSHIP_TYPES.has(o.type)) return true;
    if (o.code === 25 || o.code === 22 || o.code === 27 || o.code === 82) return true;
  }
  return false;
}

/** The broker refused a record or batch for its size (message.max.bytes / max.message.bytes). */
export function isRecordTooLarge(e: unknown): boolean {
  for (const o of causes(e)) {
    if (o.type === 'MESSAGE_TOO_LARGE' || o.type === 'RECORD_LIST_TOO_LARGE' || o.code === 10 || o.code === 18) return true;
    if (typeof o.message === 'string' && /larger than the max message size/i.test(o.message)) return true;
  }
  return false;
}

/** Why, in one line, for logs and health reports. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'string') return e;
  try {
    return JSON.stringify(e);
  } catch {
    return 'unknown error';
  }
}
