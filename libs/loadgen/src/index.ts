export { arrivalTimes, expectedCount, profileSeconds, rampAndHold, rateAt } from './schedule';
export type { RatePhase, RateProfile } from './schedule';
export { rng, ZipfSampler } from './random';
export { GroundTruth } from './ground-truth';
export type { Expected, Outcome } from './ground-truth';
export { Workload } from './workload';
export type { PlannedRequest, Scenario, WorkloadOptions } from './workload';
export { assertLoopback, HttpClient } from './http-client';
export { buildRequest, buildRequestPrefix, PipelinedClient } from '@doubletap/http-pipeline';
export type { AnswerHandler, NoAnswer } from '@doubletap/http-pipeline';
export { RoundRobinClient } from './round-robin';
export type { RequestSink } from './round-robin';
export { cpuUse, ownCpu, processCpu, processCpuSeconds } from './cpu';
export type { CpuSample, CpuUse } from './cpu';
export type { HttpAnswer } from './http-client';
export { ApiCountSource, countsFromBody, pollingCountSource } from './read-side';
export type { CountSource } from './read-side';
export { checkCounts } from './check';
export type { CheckResult, Mismatch } from './check';
export {
  FAST_REFUSAL_MS,
  loadProfile,
  mintUserTokens,
  OVERLOADED_TYPE,
  outcomeOf,
  runLoad,
  userId,
} from './runner';
export type { LatencySummary, LoadOptions, LoadReport, TimelinePoint } from './runner';
export { cpuLine, renderReport } from './render';
