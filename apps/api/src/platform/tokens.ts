/** Injection tokens of the process-wide services (settings come from @doubletap/config's SETTINGS). */
export const LOGGER = Symbol('doubletap.api.logger');
export const METRICS = Symbol('doubletap.api.metrics');
export const HEALTH = Symbol('doubletap.api.health');
/** The api's one Redis command connection (RedisModule), shared by every repository that needs Redis. */
export const REDIS = Symbol('doubletap.api.redis');
