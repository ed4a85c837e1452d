export { haproxyAddress, haproxyConfig } from './config';
export type {
  BalancerChecks,
  BalancerServer,
  BalancerShedding,
  BalancerTimeouts,
  HaproxyConfigOptions,
} from './config';
export { parseStatsCsv, readBalancerStats, serverStates } from './stats';
export type { BalancerStats, ServerStats } from './stats';
export { checkHaproxyConfig, haproxyPath, startHaproxy } from './haproxy';
export type { HaproxyProcess, StartHaproxyOptions } from './haproxy';
export { planRun, REPLICA_PORT_STEP, STATS_PORT_OFFSET } from './plan';
export type { PlannedBalancer, PlannedInstance, RunApp, RunPlan, RunPlanOptions } from './plan';
export { parseRunArgs, RUN_APPS, RUN_USAGE } from './run-args';
export type { RunArgs } from './run-args';
