// autocannon ships no types; the few fields the benchmarks use
export interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}
export interface CannonRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  setupRequest?: (req: CannonRequest) => CannonRequest;
}
export type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  requests?: CannonRequest[];
  method?: string;
}) => Promise<CannonResult>;
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const autocannon = require('autocannon') as Autocannon;
