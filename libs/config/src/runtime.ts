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
}

export const APP_RUNTIME: Readonly<Record<string, AppRuntime>> = {
  aggregator: { heapMiB: 192, semiSpaceMiB: 16, mallocArenas: 2 },
};

/**
 * The environment to start `app` with: NODE_OPTIONS gains the heap flags (unless the caller's
 * NODE_OPTIONS already sets them: an operator's choice wins) and MALLOC_ARENA_MAX is set (unless set).
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
  };
}

/** The app a built entry point belongs to (`apps/<app>/src/main.js` → `<app>`), if any. */
export function appOfScript(script: string): string | undefined {
  return /(?:^|\/)apps\/([^/]+)\/src\/main\.js$/.exec(script)?.[1];
}
