export { createLogger, NestPinoLogger } from './logger';
export type { LogDestination } from './logger';
export type { Logger } from './logger';
export {
  counter,
  createMetricsRegistry,
  gauge,
  histogram,
  Counter,
  Gauge,
  Histogram,
  LATENCY_BUCKETS_SECONDS,
  Registry,
} from './metrics';
export { FastHistogram } from './fast-histogram';
export type { Observe } from './fast-histogram';
export { HealthRegistry, withTimeout } from './health';
export type { HealthCheck, HealthReport } from './health';
