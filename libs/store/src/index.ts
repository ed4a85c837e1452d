export { PartitionStore, StoreOpenError, storeKeys, storePath } from './partition-store';
export type { BatchWrite, SourceIdentity, StoreEntry } from './partition-store';
