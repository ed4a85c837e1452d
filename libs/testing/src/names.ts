import { randomBytes } from 'node:crypto';

/** A fresh name per test (topics, groups, key prefixes), so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}
