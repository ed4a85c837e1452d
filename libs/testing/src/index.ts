export { freshNamesEnv, uniqueName } from './names';
export { waitFor } from './wait';
export { REPO_ROOT, stackEnv } from './stack';
export { freePort, peakRssBytes, spawnBuilt, stopChild, untilStatus } from './processes';
export { startPipeline } from './pipeline';
export type { Pipeline, PipelineApp } from './pipeline';
export { StackControl } from './stack-control';
export type { ClusterPart, Fault, PartStatus, SinglePart, StackPart, StackProfile } from './stack-control';
