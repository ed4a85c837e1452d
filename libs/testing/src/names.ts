import { randomBytes } from 'node:crypto';

/** A fresh name per test (topics, groups, key prefixes), so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/**
 * The environment that puts one run on its own topics, consumer groups and Redis key prefix, all
 * named after `base` (from uniqueName), so tests and benchmarks never see each other's data.
 */
export function freshNamesEnv(base: string): Record<string, string> {
  return {
    TOPIC_EVENTS: `${base}.events`,
    TOPIC_COUNTS: `${base}.counts`,
    TOPIC_DEAD_LETTER: `${base}.dlq`,
    TOPIC_CHANGELOG: `${base}.changelog`,
    AGGREGATOR_GROUP: `${base}-agg`,
    PROJECTOR_GROUP: `${base}-proj`,
    REDIS_KEY_PREFIX: `${base}:`,
  };
}
