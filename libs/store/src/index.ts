export { PartitionStore, StoreOpenError, storeKeys, storePath } from './partition-store';
export type { BatchWrite, SourceIdentity, StandbyMark, StoreEntry } from './partition-store';
export { storeEngine, type StoreEngine } from './engine';
