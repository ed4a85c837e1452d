import { GroundTruth, runLoad, type LoadReport } from '@doubletap/loadgen';

export interface TrafficOptions {
  url: string;
  /** requests/s, open loop */
  rate: number;
  seed: number;
  runId: string;
  auth: { secret: string; issuer?: string; audience?: string };
}

/**
 * Open-loop like/unlike load in the background (the load generator's mixed scenario: Zipf posts,
 * double taps, unlikes) until stop(): keeps the ground truth of what was answered and every eventId
 * answered 202.
 */
export class Traffic {
  readonly truth = new GroundTruth();
  readonly acceptedIds: string[] = [];
  private readonly abort = new AbortController();
  private readonly run: Promise<LoadReport>;

  constructor(o: TrafficOptions) {
    this.run = runLoad({
      scenario: 'mixed',
      url: o.url,
      rate: o.rate,
      rampSeconds: 0,
      holdSeconds: 3600,
      maxRequests: Number.MAX_SAFE_INTEGER,
      users: 2000,
      posts: 40,
      zipf: 1.1,
      doubleTap: 0.1,
      unlike: 0.15,
      connections: 16,
      // a request the api cannot answer (a dead broker, a paused api) is an unknown outcome after this
      timeoutMs: 8000,
      maxInFlight: 5000,
      sampleEvery: 1_000_000,
      freshness: 'off',
      pollMs: 100,
      check: false,
      checkWaitMs: 0,
      seed: o.seed,
      runId: o.runId,
      auth: o.auth,
      truth: this.truth,
      signal: this.abort.signal,
      onAccepted: (body) => {
        const id = /"eventId":"([^"]+)"/.exec(body)?.[1];
        if (id) this.acceptedIds.push(id);
      },
    });
    this.run.catch(() => undefined);
  }

  /** Ends the schedule, waits for every answer, returns the run's report. */
  async stop(): Promise<LoadReport> {
    this.abort.abort();
    return this.run;
  }
}
