/** Sends the queries of one batch to one destination; answers in the order of the queries. */
export type SendBatch<Q, A> = (destination: string, queries: readonly Q[]) => Promise<A[]>;

export interface BatcherOptions<Q, A> {
  send: SendBatch<Q, A>;
  /** most queries in one request (default 256) */
  maxBatch?: number;
  /** most requests in flight per destination; further queries wait and leave together (default 4) */
  maxInFlight?: number;
}

interface Waiting<Q, A> {
  query: Q;
  resolve: (answer: A) => void;
  reject: (err: unknown) => void;
}

interface Lane<Q, A> {
  queue: Waiting<Q, A>[];
  inFlight: number;
  scheduled: boolean;
}

/**
 * Coalesces concurrent queries to the same destination into one request. A query never waits for a
 * timer: the queries that arrive in the same turn of the event loop leave together at the end of
 * it (setImmediate), and while `maxInFlight` requests to a destination are out, newer queries
 * gather and leave as one batch when one comes back. At low load a batch is one query; under load
 * batches grow and the number of requests stays bounded.
 */
export class Batcher<Q, A> {
  private readonly lanes = new Map<string, Lane<Q, A>>();
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(private readonly options: BatcherOptions<Q, A>) {
    this.maxBatch = options.maxBatch ?? 256;
    this.maxInFlight = options.maxInFlight ?? 4;
    if (!(this.maxBatch >= 1) || !(this.maxInFlight >= 1))
      throw new Error('maxBatch and maxInFlight must be at least 1');
  }

  ask(destination: string, query: Q): Promise<A> {
    let lane = this.lanes.get(destination);
    if (!lane) this.lanes.set(destination, (lane = { queue: [], inFlight: 0, scheduled: false }));
    const answer = new Promise<A>((resolve, reject) => lane.queue.push({ query, resolve, reject }));
    this.schedule(destination, lane);
    return answer;
  }

  private schedule(destination: string, lane: Lane<Q, A>): void {
    if (lane.scheduled || lane.inFlight >= this.maxInFlight || lane.queue.length === 0) return;
    lane.scheduled = true;
    setImmediate(() => {
      lane.scheduled = false;
      this.flush(destination, lane);
    });
  }

  private flush(destination: string, lane: Lane<Q, A>): void {
    while (lane.inFlight < this.maxInFlight && lane.queue.length > 0) {
      const batch = lane.queue.splice(0, this.maxBatch);
      lane.inFlight++;
      void this.run(destination, batch).finally(() => {
        lane.inFlight--;
        if (lane.queue.length > 0) this.flush(destination, lane);
        else if (lane.inFlight === 0 && this.lanes.get(destination) === lane) this.lanes.delete(destination);
      });
    }
  }

  private async run(destination: string, batch: Waiting<Q, A>[]): Promise<void> {
    try {
      const answers = await this.options.send(
        destination,
        batch.map((w) => w.query),
      );
      if (answers.length !== batch.length)
        throw new Error(`${answers.length} answers to ${batch.length} queries`);
      batch.forEach((w, i) => w.resolve(answers[i]));
    } catch (err) {
      for (const w of batch) w.reject(err);
    }
  }
}
