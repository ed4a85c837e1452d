export const METRICS = Symbol('doubletap.monitor.metrics');
