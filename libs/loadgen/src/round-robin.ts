import type { AnswerHandler } from '@doubletap/http-pipeline';
import { PipelinedClient } from '@doubletap/http-pipeline';

/** What the load runner needs of a client: send pre-built requests, count what is unanswered, close. */
export interface RequestSink<T> {
  readonly inFlight: number;
  send(request: string, ctx: T): void;
  close(): void;
}

/**
 * Client-side round robin over several api replicas (no load balancer in front): request i goes to
 * target i mod n, each target with its own pipelined keep-alive connections. The due time of a
 * request does not depend on its target, so the schedule stays open loop; a stalled replica is
 * charged for its share of the requests as a real client without a balancer would see it.
 */
export class RoundRobinClient<T> implements RequestSink<T> {
  private readonly targets: Array<RequestSink<T>>;
  private next = 0;

  /**
   * `connectionsPerTarget` keep-alive connections to each of `bases`. `make` builds the client of
   * one target (default: a PipelinedClient; tests pass a fake).
   */
  constructor(
    bases: readonly URL[],
    connectionsPerTarget: number,
    timeoutMs: number,
    onAnswer: AnswerHandler<T>,
    make: (base: URL) => RequestSink<T> = (base) =>
      new PipelinedClient<T>(base, connectionsPerTarget, timeoutMs, onAnswer),
  ) {
    if (bases.length === 0) throw new Error('round robin needs at least one target');
    this.targets = bases.map((b) => make(b));
  }

  get inFlight(): number {
    let n = 0;
    for (const t of this.targets) n += t.inFlight;
    return n;
  }

  /** How many targets it spreads over. */
  get size(): number {
    return this.targets.length;
  }

  send(request: string, ctx: T): void {
    const t = this.targets[this.next];
    this.next = (this.next + 1) % this.targets.length;
    t.send(request, ctx);
  }

  close(): void {
    for (const t of this.targets) t.close();
  }
}
