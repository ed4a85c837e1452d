/** Injection tokens of the process-wide services (settings come from @doubletap/config's SETTINGS). */
export const LOGGER = Symbol('doubletap.api.logger');
export const METRICS = Symbol('doubletap.api.metrics');
export const HEALTH = Symbol('doubletap.api.health');
