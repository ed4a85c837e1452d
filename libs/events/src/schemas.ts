import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Finds the repository's schemas/ folder from source (libs/events/src) or build (dist/libs/...). */
export function schemasDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, 'like-event.avsc'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`schemas/like-event.avsc not found above ${__dirname}`);
}

export function readSchema(file: 'like-event.avsc' | 'count-changed.avsc'): string {
  return readFileSync(join(schemasDir(), file), 'utf8');
}
