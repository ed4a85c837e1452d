import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Which LevelDB the stores run on (ADR 0026). classic-level loads `build/Release` (LevelDB built from
 * source by scripts/build-leveldb.sh with patches/classic-level+3.0.0.patch) before its prebuilt
 * binaries. Only the source build honours LEVELDB_MMAP_LIMIT: with 0, table files are read with
 * pread into the block cache and the process's RSS holds no mapped table pages; the prebuilt binary
 * maps up to 1,000 table files, whose touched pages the RSS then counts (file-backed).
 */
export interface StoreEngine {
  build: 'source' | 'prebuilt';
  /** table files are mapped (their touched pages count in the RSS as file-backed memory) */
  mappedTables: boolean;
}

export function storeEngine(env: Readonly<Record<string, string | undefined>> = process.env): StoreEngine {
  let build: StoreEngine['build'] = 'prebuilt';
  try {
    const release = join(dirname(require.resolve('classic-level/package.json')), 'build', 'Release');
    if (readdirSync(release).some((f) => f.endsWith('.node'))) build = 'source';
  } catch {
    // no source build
  }
  // as the patched LevelDB reads it: unset or empty = its default (1,000 mapped files), else atoi
  const raw = env.LEVELDB_MMAP_LIMIT;
  const limit = raw === undefined || raw === '' ? 1000 : Number.parseInt(raw, 10) || 0;
  return { build, mappedTables: build === 'prebuilt' || limit > 0 };
}
