export { PartitionStore, StoreOpenError, storePath } from './partition-store';
export type { BatchWrite, OutboxEntry } from './partition-store';
