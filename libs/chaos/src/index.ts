export { runChaos } from './runner';
export type { ChaosOptions } from './runner';
export { renderReliability, renderTable } from './report';
export { SCENARIOS } from './types';
export { checkAcceptedInLog, countRecords } from './checks';
export type { LogCheck } from './checks';
export type { ChaosReport, ScenarioName, ScenarioResult } from './types';
