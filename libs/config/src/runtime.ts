/**
 * How an app's Node.js process is started, where it matters for its memory (docs/operations.md,
 * "Memory"): the aggregator's RSS must stay bounded as its stores grow (issue 11: ≤ 256 MiB with
 * 10M (post, user) pairs), so its V8 heap is capped and glibc keeps two malloc arenas instead of
 * eight per core (LevelDB's threads otherwise each grow their own). Everything that starts an app
 * (`npm start`, the tests, the benches, the chaos suite) adds this environment; the deploy files set
 * the same values.
 */
export interface AppRuntime {
  /** V8 old-space limit (--max-old-space-size), MiB */
  heapMiB: number;
  /** V8 young-generation semi-space (--max-semi-space-size), MiB */
  semiSpaceMiB: number;
  /** glibc MALLOC_ARENA_MAX */
  mallocArenas: number;
  /**
   * LEVELDB_MMAP_LIMIT: table files LevelDB may map (0 = none: read with pread into its block
   * cache). Honoured by the LevelDB built from source with patches/classic-level+3.0.0.patch
   * (scripts/build-leveldb.sh, ADR 0026); the prebuilt binary ignores it and maps up to 1,000.
   */
  leveldbMmapLimit?: number;
}

export const APP_RUNTIME: Readonly<Record<string, AppRuntime>> = {
  aggregator: { heapMiB: 128, semiSpaceMiB: 8, mallocArenas: 2, leveldbMmapLimit: 0 },
};

/**
 * The environment to start `app` with: NODE_OPTIONS gains the heap flags (unless the caller's
 * NODE_OPTIONS already sets them: an operator's choice wins); MALLOC_ARENA_MAX and LEVELDB_MMAP_LIMIT
 * are set (unless set).
 */
export function runtimeEnv(app: string, env: Readonly<Record<string, string | undefined>> = process.env): Record<string, string> {
  const rt = APP_RUNTIME[app];
  if (!rt) return {};
  const current = env.NODE_OPTIONS ?? '';
  const flags = [
    current.includes('--max-old-space-size') ? '' : `--max-old-space-size=${rt.heapMiB}`,
    current.includes('--max-semi-space-size') ? '' : `--max-semi-space-size=${rt.semiSpaceMiB}`,
  ].filter(Boolean);
  return {
    NODE_OPTIONS: [current, ...flags].filter(Boolean).join(' '),
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? String(rt.mallocArenas),
    ...(rt.leveldbMmapLimit === undefined ? {} : { LEVELDB_MMAP_LIMIT: env.LEVELDB_MMAP_LIMIT ?? String(rt.leveldbMmapLimit) }),
  };
}

/** The app a built entry point belongs to (`apps/<app>/src/main.js` → `<app>`), if any. */
export function appOfScript(script: string): string | undefined {
  return /(?:^|\/)apps\/([^/]+)\/src\/main\.js$/.exec(script)?.[1];
}
