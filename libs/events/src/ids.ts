// The id rules and key formats belong to the likes domain (@doubletap/likes); re-exported here for
// the wire-format code that validates decoded events.
export { countKey, ID_PATTERN, isValidId, likeKey } from '@doubletap/likes';
