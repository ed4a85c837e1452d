export { countKey, ID_PATTERN, isValidId, likeKey } from './ids';
export { uuidv7, UUID_V7_PATTERN } from './uuidv7';
export type { CountChanged, LikeAction, LikeEvent } from './types';
export { assertCountChanged, assertLikeEvent, EventCodec, InvalidEventError, valueSubject } from './codec';
export type { CodecTopics } from './codec';
export { readSchema, schemasDir } from './schemas';
