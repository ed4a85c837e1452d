// Kafka's murmur2 key partitioning is the likes domain's routing rule (@doubletap/likes); the
// producer's partitioner uses it from there.
export { murmur2, partitionForKey } from '@doubletap/likes';
