import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { storeEngine } from './engine';

describe('storeEngine', () => {
  const release = join(dirname(require.resolve('classic-level/package.json')), 'build', 'Release');
  const built = existsSync(release) && readdirSync(release).some((f) => f.endsWith('.node'));

  it('names the LevelDB classic-level loads: the source build when there is one', () => {
    expect(storeEngine({}).build).toBe(built ? 'source' : 'prebuilt');
  });

  it('says the tables are mapped unless the source build runs with LEVELDB_MMAP_LIMIT=0', () => {
    expect(storeEngine({}).mappedTables).toBe(true);
    expect(storeEngine({ LEVELDB_MMAP_LIMIT: '' }).mappedTables).toBe(true);
    expect(storeEngine({ LEVELDB_MMAP_LIMIT: '1000' }).mappedTables).toBe(true);
    expect(storeEngine({ LEVELDB_MMAP_LIMIT: '0' }).mappedTables).toBe(!built);
  });
});
