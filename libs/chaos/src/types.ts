/** The scenarios, in the order they run, named as in the table and the JSON. */
export const SCENARIOS = [
  'kill-api',
  'kill-aggregator',
  'kill-projector',
  'zombie-aggregator',
  'broker-kill',
  'slow-broker',
  'registry-down',
  'redis-loss',
  'redis-flush',
  'topic-recreated',
  'partitions-added',
  'log-truncated',
  'poison-storm',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export interface ScenarioResult {
  name: ScenarioName;
  /** faults injected (each followed by its recovery) */
  cycles: number;
  /** 202 answers the load generator received */
  accepted: number;
  /** 202'd eventIds absent from likes.events */
  missing: number;
  /** 202'd eventIds present more than once */
  duplicated: number;
  /** posts where `doubletap verify` or the read API differ from the log's recount or the generator's truth */
  mismatches: number;
  /** seconds from the end of the last fault until every app was ready again (refusals: until the refusal showed) */
  healSeconds: number;
  /** the refusal the scenario expects and saw (refusal code), when refusing is the right answer */
  refusal?: string;
  /** keys of likes.counts whose last record does not carry their highest source offset */
  staleCounts: number;
  /** what else the scenario checked, in words */
  notes: string[];
  /** every check held */
  ok: boolean;
  /** why not, when not */
  failures: string[];
  seconds: number;
}

export interface ChaosReport {
  seed: number;
  quick: boolean;
  startedAt: string;
  seconds: number;
  ok: boolean;
  command: string;
  scenarios: ScenarioResult[];
}
