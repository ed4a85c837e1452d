import { APP_RUNTIME, appOfScript, runtimeEnv } from './runtime';

describe('app runtime environment', () => {
  it('caps the aggregator heap and malloc arenas, and keeps LevelDB from mapping its tables', () => {
    const rt = APP_RUNTIME.aggregator;
    expect(runtimeEnv('aggregator', {})).toEqual({
      NODE_OPTIONS: `--max-old-space-size=${rt.heapMiB} --max-semi-space-size=${rt.semiSpaceMiB}`,
      MALLOC_ARENA_MAX: String(rt.mallocArenas),
      LEVELDB_MMAP_LIMIT: '0',
    });
  });

  it("keeps the caller's NODE_OPTIONS and an operator's own limits", () => {
    const env = runtimeEnv('aggregator', { NODE_OPTIONS: '--enable-source-maps --max-old-space-size=512', MALLOC_ARENA_MAX: '4', LEVELDB_MMAP_LIMIT: '1000' });
    expect(env.NODE_OPTIONS).toBe(`--enable-source-maps --max-old-space-size=512 --max-semi-space-size=${APP_RUNTIME.aggregator.semiSpaceMiB}`);
    expect(env.MALLOC_ARENA_MAX).toBe('4');
    expect(env.LEVELDB_MMAP_LIMIT).toBe('1000');
  });

  it('adds nothing for apps without a runtime profile', () => {
    expect(runtimeEnv('api', {})).toEqual({});
  });

  it('names the app of a built entry point', () => {
    expect(appOfScript('apps/aggregator/src/main.js')).toBe('aggregator');
    expect(appOfScript('/x/dist/apps/api/src/main.js')).toBe('api');
    expect(appOfScript('bench/aggregate.js')).toBeUndefined();
  });
});
